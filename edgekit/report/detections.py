"""The report's "Detections" section: the boxes a detector's artifacts draw on images the caller names.

    section_detections(data, images, min_score=0.25) -> str (HTML)

Images come from the caller (`edgekit report EXPORT --images a.jpg b.jpg`), never from a path written in the export
folder's files (they are untrusted). Each image is run through one verified fp32 artifact and every verified int8
artifact that runs here, each in its own runtime after its sha256 is checked (edgekit.detection_predict), and drawn
with the same NMS (the manifest's) and the same display threshold, side by side: where int8 loses or moves a box
is seen at a glance. Thumbnails are JPEGs inlined as data: URIs (the page stays one self-contained file).
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from edgekit.errors import EdgekitError

MAX_IMAGES = 6
THUMB_SIDE = 320


def _pick(data) -> list:
    """One verified fp32 artifact (the first in the summary's order) and every verified int8 one."""
    verified = [a for a in data.artifacts if a.status == "verified"]
    fp32 = [a for a in verified if a.precision == "fp32"][:1]
    return fp32 + [a for a in verified if a.precision == "int8"]


def _thumbnail(picture) -> str:
    picture = picture.copy()
    picture.thumbnail((THUMB_SIDE, THUMB_SIDE))
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def check_images(images: list[Path]) -> list[Path]:
    """The caller's images: files, at most MAX_IMAGES (one line otherwise, before anything runs)."""
    images = [Path(p) for p in images]
    missing = [p for p in images if not p.is_file()]
    if missing:
        raise EdgekitError(f"--images: {missing[0]} is not an image file")
    if len(images) > MAX_IMAGES:
        raise EdgekitError(f"--images takes at most {MAX_IMAGES} images (the page shows each beside every int8 "
                           f"artifact), got {len(images)}")
    return images


def section_detections(data, images: list[Path] | None, min_score: float = 0.25) -> str:
    """The section's HTML; a note saying how to get it when no images are given."""
    from edgekit.detection_predict import detect, draw, open_detector
    from edgekit.logcapture import captured

    if not data.is_detector:
        return ""
    esc = lambda v: html.escape(str(v))
    if not images:
        return ('<h2>Detections</h2><p class="note">no images given: <code>edgekit report '
                f'{esc(data.folder)} --images A.jpg B.jpg</code> draws the boxes each artifact finds</p>')
    chosen = [a for a in _pick(data)]
    if not chosen:
        return '<h2>Detections</h2><p class="empty">no verified artifact to run</p>'
    columns, skipped = [], []
    with captured(None):
        for art in chosen:
            try:
                runner = open_detector(data.folder / art.name)
            except EdgekitError as error:
                skipped.append(f"{art.name}: {error}")
                continue
            found = detect(runner, images, min_score)
            columns.append((art.name, runner.labels, found))
    if not columns:
        return ('<h2>Detections</h2><p class="empty">no artifact ran here: '
                + esc("; ".join(skipped)) + "</p>")
    head = "".join(f"<th>{esc(name)}</th>" for name, _, _ in columns)
    body = []
    for index, image in enumerate(images):
        cells = []
        for name, labels, found in columns:
            picture = draw(found[index], labels)
            count = len(found[index].labels)
            cells.append(f'<td><img alt="{esc(name)} on {esc(image.name)}" src="data:image/jpeg;base64,'
                         f'{_thumbnail(picture)}"><br><span class="reason">{count} box{"es" * (count != 1)}</span></td>')
        body.append(f"<tr><td>{esc(image.name)}</td>{''.join(cells)}</tr>")
    note = (f"Score ≥ {min_score:g} shown; NMS as each manifest says (edgekit.detection_post); each artifact in its "
            "own runtime.") + (f" Not run: {'; '.join(skipped)}." if skipped else "")
    return (f'<h2>Detections</h2><table><thead><tr><th>image</th>{head}</tr></thead><tbody>{"".join(body)}'
            f'</tbody></table><p class="reason">{esc(note)}</p>')
