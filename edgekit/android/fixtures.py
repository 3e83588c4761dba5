"""`edgekit android fixtures`: golden fixtures the app's Kotlin core (android_demo/core) must reproduce.

From a real export (ONNX and TFLite, fp32 and int8): real image files (the shipped PNGs and JPEGs plus PNGs and
JPEGs derived from a shipped photograph: colour and grey, square and not, small and large, alpha, palette, EXIF
orientation), the same pictures as camera-like YUV_420_888 planes (padded rows, pixel stride 1 and 2, rotation),
edgekit's exact input tensor for every (image, artifact) and the host runtime's raw output and top-5.
Layout of OUT is documented in docs/manifest.md ("Golden fixtures for the app"); index.json lists everything.

A detector's export (manifest `task: detection`) gets the same images, frames and tensors; instead of a top-5 each
(image, artifact) row carries `detections`: edgekit.detection_post.postprocess of the raw output (boxes in the
network's frame, scores, labels, in order) and the boxes in the image's pixels (detection_metrics.to_image_boxes).
`detection_cases` adds outputs made to test the rules: ties of scores within and across classes (a real output
with its probabilities rounded to 1/16), a score equal to the threshold in float32, cut-offs by
candidates_per_class and max_detections, and an empty result.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from edgekit.android.runtime import find_artifacts, top_k
from edgekit.detection_metrics import resize_geometry, to_image_boxes
from edgekit.detection_post import BOX_COLUMNS, PostprocessSettings, postprocess
from edgekit.runtime import dequantize
from edgekit.artifacts import Artifact
from edgekit.android.yuv import rgb_to_yuv420, rotate_clockwise, yuv420_to_rgb
from edgekit import contracts
from edgekit.errors import EdgekitError
from edgekit.fileio import atomic_write_text, remove_path, replace_folder, staging_folder, writable_folder
from edgekit.paths import REPO_ROOT
from edgekit.preprocess import load_rgb
from edgekit.progress import OnProgress, Reporter, reporter

FIXTURES_SCHEMA = contracts.ANDROID_FIXTURES
SAMPLES = REPO_ROOT / "samples"
PNG_TOLERANCE = 0.0      # lossless images and camera frames: bit-equal float32 (the float64 contract, docs)
QUANTIZED_STEPS = 0      # lossless: every int8/uint8 input value equal
JPEG_TOLERANCE = 0.05    # normalised units (~3 grey levels): JPEG decoders may differ (IDCT, upsampling); see docs
SYNTHETIC = "synthetic-letterbox-nhwc-uint8"


def _shipped(pattern: str) -> Path:
    found = sorted(SAMPLES.glob(pattern))
    if not found:
        raise EdgekitError(f"shipped sample image {pattern} not found under {SAMPLES}")
    return found[0]


def make_images(folder: Path) -> list[dict]:
    """Copies and derives the fixture images; returns their index entries."""
    folder.mkdir(parents=True, exist_ok=True)
    wide_jpeg = _shipped("imagenet-photos/imagenet_10_*.jpg")      # 1024x683 colour JPEG
    square_jpeg = _shipped("imagenet-photos/imagenet_00_*.jpg")    # 512x512 colour JPEG
    entries = []

    def add(name: str, source_kind: str, note: str):
        path = folder / name
        with Image.open(path) as image:
            entries.append({"name": path.stem, "file": f"images/{name}", "kind": "jpeg" if name.endswith(".jpg") else "png",
                            "mode": image.mode, "width": image.width, "height": image.height,
                            "source": source_kind, "note": note})

    for cls in ("bag", "sneaker"):
        src = _shipped(f"fashion-mnist/{cls}/*.png")
        shutil.copy(src, folder / f"fmnist_{cls}.png")
        add(f"fmnist_{cls}.png", "shipped", f"grey 28x28 PNG ({src.parent.name}/{src.name})")
    for src, name in ((wide_jpeg, "photo_wide.jpg"), (square_jpeg, "photo_square.jpg")):
        shutil.copy(src, folder / name)
        add(name, "shipped", f"colour JPEG ({src.name})")
    wide, square = load_rgb(wide_jpeg), load_rgb(square_jpeg)
    derived = [
        ("photo_1024x683.png", wide, "the 1024x683 photograph as a colour PNG (longer side 383 at 224 px)"),
        ("photo_341x512.png", square.crop((85, 0, 426, 512)), "portrait colour PNG, odd width"),
        ("photo_37x53.png", square.resize((37, 53), Image.Resampling.BILINEAR), "tiny odd colour PNG (upsampled)"),
        ("photo_grey_101x67.png", wide.resize((101, 67), Image.Resampling.BILINEAR).convert("L"), "grey PNG"),
        ("photo_palette_150x100.png", wide.resize((150, 100)).quantize(64), "palette PNG, 64 colours"),
    ]
    for name, image, note in derived:
        image.save(folder / name)
        add(name, "derived", note)
    rgba = square.resize((120, 90)).convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, 120).astype(np.uint8), (90, 1))
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(folder / "photo_rgba_120x90.png")
    add("photo_rgba_120x90.png", "derived", "RGBA PNG, alpha 0..255 left to right (composited over white)")
    for name, orientation, fmt in (("photo_exif8.png", 8, "PNG"), ("photo_exif6.jpg", 6, "JPEG")):
        exif = Image.Exif()
        exif[0x0112] = orientation
        wide.resize((96, 64)).save(folder / name, fmt, exif=exif.tobytes(), **({"quality": 92} if fmt == "JPEG" else {}))
        add(name, "derived", f"EXIF orientation {orientation} (stored 96x64, upright 64x96)")
    wide.resize((160, 120)).convert("L").save(folder / "photo_grey.jpg", quality=90)
    add("photo_grey.jpg", "derived", "grey JPEG")
    return entries


YUV_CASES = (  # (name, source image, size, pixel stride, row padding, rotation clockwise)
    ("yuv_640x480_nv21_rot90", "photo_1024x683", (640, 480), 2, 64, 90),
    ("yuv_37x53_nv21_rot0", "photo_37x53", None, 2, 5, 0),
    ("yuv_320x240_planar_rot270", "photo_341x512", (320, 240), 1, 32, 270),
)


def _write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path.as_posix()


def _synthetic(base: Artifact) -> Artifact:
    """The fp32 manifest with the other code paths: letterbox, NHWC and a uint8 input (tensors only, no model)."""
    manifest = json.loads(json.dumps(base.manifest.raw))
    size = manifest["preprocessing"]["img_size"]
    manifest["preprocessing"]["resize"] = "letterbox"
    manifest["input"].update(shape=[1, size, size, 3], layout="NHWC", dtype="uint8",
                             quantization={"scale": 0.0186584, "zero_point": 114})
    manifest["note"] = "synthetic: not an artifact; tests letterbox, NHWC and uint8 input packing"
    return Artifact.from_manifest(base.folder, manifest)


def write_fixtures(export_dir: Path, out: Path, on_progress: OnProgress | Reporter | None = None) -> dict:
    """Writes the fixtures into `out` (replaced as a whole) and returns the index."""
    say = reporter(on_progress).stage
    artifacts = find_artifacts(export_dir)
    base = next((a for a in artifacts if a.manifest["precision"] == "fp32"), artifacts[0])
    variants = [*artifacts, _synthetic(base)]
    out = Path(out)
    _check_out(out)
    tmp = staging_folder(out, "fixtures")
    try:
        index = _write_into(tmp, export_dir, artifacts, variants, say)
        replace_folder(tmp, out)
    finally:
        remove_path(tmp)
    return index


def _check_out(out: Path) -> None:
    """--out is replaced whole: only an earlier fixtures folder (its index.json says so) or an empty one, never a
    folder of the user's; its parent must be writable (checked before any work)."""
    if out.exists() and not out.is_dir():
        raise EdgekitError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        try:
            schema = json.loads((out / "index.json").read_text(encoding="utf-8")).get("schema")
        except (OSError, ValueError, AttributeError):
            schema = None
        if schema != FIXTURES_SCHEMA:
            raise EdgekitError(f"--out {out} is a folder that `edgekit android fixtures` did not write (no index.json "
                               f"of {FIXTURES_SCHEMA}): it would be replaced whole; choose an empty or new folder")
    writable_folder(out.parent, "--out", create=False, shown=out)


def _write_into(tmp: Path, export_dir: Path, artifacts: list, variants: list, say) -> dict:
    index: dict = {"schema": FIXTURES_SCHEMA, "export_dir": str(Path(export_dir).resolve()),
                   "tolerances": {"png": PNG_TOLERANCE, "jpeg": JPEG_TOLERANCE, "quantized_steps": QUANTIZED_STEPS},
                   "artifacts": [], "images": [], "yuv": [], "tensors": []}
    for variant in variants:
        name = SYNTHETIC if str(variant.manifest.get("note", "")).startswith("synthetic") else variant.name
        folder = tmp / "artifacts" / name
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps(variant.manifest.raw, indent=2))
        (folder / "labels.txt").write_text("\n".join(variant.manifest.labels) + "\n", encoding="utf-8")
        index["artifacts"].append({"name": name, "manifest": f"artifacts/{name}/manifest.json",
                                   "synthetic": name == SYNTHETIC, "format": variant.manifest["format"],
                                   "precision": variant.manifest["precision"]})
    say("images")
    index["images"] = make_images(tmp / "images")
    sources = {e["name"]: tmp / e["file"] for e in index["images"]}
    pictures = [(e["name"], sources[e["name"]], e["kind"]) for e in index["images"]]
    for name, source, size, stride, padding, degrees in YUV_CASES:
        rgb = np.asarray(load_rgb(sources[source]).resize(size, Image.Resampling.BILINEAR) if size else load_rgb(sources[source]))
        planes = rgb_to_yuv420(rgb, row_padding=padding, pixel_stride=stride)
        converted = yuv420_to_rgb(planes)
        upright = rotate_clockwise(converted, degrees)
        stem = tmp / "yuv" / name
        stem.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(upright).save(f"{stem}.upright.png")  # edgekit's tensor is computed from this exact RGB
        index["yuv"].append({
            "name": name, "width": planes.width, "height": planes.height, "y_row_stride": planes.y_row_stride,
            "uv_row_stride": planes.uv_row_stride, "uv_pixel_stride": planes.uv_pixel_stride,
            "y": _rel(_write(Path(f"{stem}.y.bin"), planes.y), tmp), "u": _rel(_write(Path(f"{stem}.u.bin"), planes.u), tmp),
            "v": _rel(_write(Path(f"{stem}.v.bin"), planes.v), tmp), "rgb": _rel(_write(Path(f"{stem}.rgb.bin"), converted.tobytes()), tmp),
            "rotation": degrees, "upright_rgb": _rel(_write(Path(f"{stem}.upright.bin"), upright.tobytes()), tmp),
            "upright_width": upright.shape[1], "upright_height": upright.shape[0]})
        pictures.append((name, Path(f"{stem}.upright.png"), "yuv"))
    for variant, entry in zip(variants, index["artifacts"]):
        say(f"tensors and host outputs: {entry['name']}")
        for picture, path, kind in pictures:
            tensor = variant.edgekit_input(path)
            row = {"image": picture, "kind": kind, "artifact": entry["name"], "shape": list(tensor.shape),
                   "dtype": tensor.dtype.name, "layout": variant.manifest["input"].get("layout", "NCHW"),
                   "tensor": _rel(_write(tmp / "tensors" / f"{picture}__{entry['name']}.bin", tensor.astype(tensor.dtype.newbyteorder("<")).tobytes()), tmp)}
            if not entry["synthetic"]:
                raw = variant.run_raw(tensor)
                row.update(output_dtype=raw.dtype.name,
                           output=_rel(_write(tmp / "outputs" / f"{picture}__{entry['name']}.bin", raw.astype(raw.dtype.newbyteorder("<")).tobytes()), tmp))
                if _is_detector(variant):
                    width, height = load_rgb(path).size  # the upright image (EXIF applied), as edgekit sees it
                    row["detections"] = _detections(variant, _detector_rows(variant, raw), width, height)
                else:
                    row["top5"] = [[i, p] for i, p in top_k(variant.logits(raw))]
            index["tensors"].append(row)
    detector = next((v for v, e in zip(variants, index["artifacts"]) if _is_detector(v) and not e["synthetic"]), None)
    if detector is not None:
        say("detection cases: ties, the threshold, cut-offs, an empty result")
        first = next(t for t in index["tensors"] if "detections" in t and t["artifact"] == detector.name)
        real = _detector_rows(detector, np.fromfile(tmp / first["output"], dtype=np.dtype(first["output_dtype"]).newbyteorder("<")))
        index["detection_cases"] = _detection_cases(tmp, detector, real)
    atomic_write_text(tmp / "index.json", json.dumps(index, indent=1))
    return index


def _is_detector(artifact: Artifact) -> bool:
    return artifact.manifest.raw.get("task") == "detection"


def _settings(artifact: Artifact) -> PostprocessSettings:
    return PostprocessSettings.from_dict(artifact.manifest.raw["detection"]["postprocess"])


def _detector_rows(artifact: Artifact, raw: np.ndarray) -> np.ndarray:
    """The raw output as float32 A x (4 + K) rows (dequantized as edgekit does when the output is quantized)."""
    return dequantize(raw, artifact.manifest.output).reshape(-1, BOX_COLUMNS + len(artifact.manifest.labels))


def _detections(artifact: Artifact, rows: np.ndarray, width: int, height: int,
                settings: PostprocessSettings | None = None, resize: str | None = None) -> dict:
    """Python's postprocessing of one output (what the app's DetectionPostprocessor must give, in this order) and
    its boxes in the pixels of a width x height image under the resize rule (the manifest's unless given)."""
    pre = artifact.manifest.preprocessing
    found = postprocess(rows, pre.img_size, settings or _settings(artifact))
    rule = resize or pre.resize
    image = to_image_boxes(found.boxes, resize_geometry(width, height, pre.img_size, rule))
    return {"count": len(found.scores), "boxes": found.boxes.tolist(), "scores": found.scores.astype(float).tolist(),
            "labels": found.labels.tolist(), "image_width": width, "image_height": height, "resize": rule,
            "image_boxes": image.tolist()}


def _detection_cases(tmp: Path, artifact: Artifact, real: np.ndarray) -> list[dict]:
    """Outputs made to pin the rules down (module doc), each with Python's answer and the settings it used."""
    base = _settings(artifact)
    threshold = np.float32(base.score_threshold)
    ties = real.copy()
    ties[:, BOX_COLUMNS:] = np.round(ties[:, BOX_COLUMNS:] * 16) / 16  # many equal scores, within and across classes
    ties[: len(ties) // 2, BOX_COLUMNS:] = np.maximum(ties[: len(ties) // 2, BOX_COLUMNS:], threshold)
    ties[1::7, BOX_COLUMNS:] = threshold  # equal to the threshold in float32: not above it, so never kept
    same_boxes = real.copy()
    same_boxes[:, :BOX_COLUMNS] = real[0, :BOX_COLUMNS]  # every box identical: NMS keeps one per class
    same_boxes[:, BOX_COLUMNS:] = np.round(same_boxes[:, BOX_COLUMNS:] * 8) / 8
    empty = real.copy()
    empty[:, BOX_COLUMNS:] = np.minimum(empty[:, BOX_COLUMNS:], threshold)  # nothing above the threshold
    tight = PostprocessSettings(score_threshold=0.05, iou_threshold=0.3, max_detections=5, candidates_per_class=3)
    size = artifact.manifest.preprocessing.img_size
    square = (size, size, None)
    cases = [("ties_rounded_scores", ties, base, square), ("ties_rounded_scores_cut", ties, tight, square),
             ("identical_boxes", same_boxes, base, square), ("empty", empty, base, square),
             ("real_cut", real, tight, square),  # the boxes mapped back to images of other shapes and both rules:
             ("real_to_1024x683_resize", real, base, (1024, 683, "resize")),
             ("real_to_1024x683_letterbox", real, base, (1024, 683, "letterbox")),
             ("real_to_341x512_letterbox", real, base, (341, 512, "letterbox"))]
    entries = []
    for name, rows, settings, (width, height, rule) in cases:
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        expected = _detections(artifact, rows, width, height, settings, rule)
        if name == "empty" and expected["count"] != 0:
            raise EdgekitError("the empty detection case is not empty (fixtures bug)")
        entries.append({"name": name, "artifact": artifact.name, "settings": settings.to_dict(),
                        "output": _rel(_write(tmp / "detection_cases" / f"{name}.bin", rows.astype("<f4").tobytes()), tmp),
                        "detections": expected})
    return entries


def _rel(path: str, root: Path) -> str:
    return Path(path).relative_to(root).as_posix()
