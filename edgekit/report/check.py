"""Look at a report the way a person would: render it in headless Chromium, then inspect the screenshot.

    check_page(html_path, screenshot_path, width=1280, height=2400) -> PageCheck

A copy of the page gets a tiny inline script that records, on load, each <img>'s decoded width
(naturalWidth) and its box; Chromium's --dump-dom returns those, --screenshot the pixels. The check fails
(PageCheck.problems non-empty) when the screenshot is blank, an image did not decode, or an image's region
holds too few plot pixels (non-white pixels and distinct colours). The delivered page itself has no script.

    python -m edgekit.report.check REPORT.html [SCREENSHOT.png]     exit 1 with the problems, 0 when fine
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import EdgekitError

MIN_PAGE_INK = 0.02      # fraction of non-white pixels a rendered report must have
MIN_FIGURE_INK = 0.03    # ... and each figure's region
MIN_FIGURE_COLOURS = 8   # distinct colours in a figure's region (axes, text, markers, anti-aliasing)

_PROBE = """<script>window.addEventListener('load',function(){var i=0;for(const im of document.images){
const r=im.getBoundingClientRect();im.setAttribute('data-probe',[i++,im.complete?1:0,im.naturalWidth,
Math.round(r.left+scrollX),Math.round(r.top+scrollY),Math.round(r.width),Math.round(r.height)].join(','));}
document.body.setAttribute('data-probed','1');});</script>"""


@dataclass
class ImageProbe:
    index: int
    natural_width: int
    box: tuple[int, int, int, int]   # left, top, width, height in CSS px (= screenshot px at scale 1)
    ink: float | None = None         # non-white fraction of its region in the screenshot
    colours: int | None = None


@dataclass
class PageCheck:
    screenshot: Path
    page_ink: float
    images: list[ImageProbe] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    raise EdgekitError("chromium not found on PATH: install it (Debian: apt-get install chromium, or scripts/setup.sh)")


def _chromium(exe: str, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
           "--no-first-run", "--disable-extensions", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired:
        raise EdgekitError(f"chromium did not finish within {timeout:.0f} s") from None


def _ink(region) -> tuple[float, int]:
    grey = region.convert("L")
    histogram = grey.histogram()
    total = sum(histogram) or 1
    ink = sum(histogram[:245]) / total
    colours = region.getcolors(maxcolors=1 << 16)
    return ink, (len(colours) if colours is not None else 1 << 16)


def check_page(html_path: Path | str, screenshot_path: Path | str, width: int = 1280, height: int = 2400) -> PageCheck:
    from PIL import Image

    exe = find_chromium()
    page = Path(html_path).read_text(encoding="utf-8")
    probed = page.replace("</body>", _PROBE + "</body>") if "</body>" in page else page + _PROBE
    screenshot = Path(screenshot_path).resolve()
    with tempfile.TemporaryDirectory(prefix="edgekit-check-") as tmp:
        copy = Path(tmp) / "page.html"
        copy.write_text(probed, encoding="utf-8")
        url = copy.as_uri()
        profile = f"--user-data-dir={Path(tmp) / 'profile'}"
        shot = _chromium(exe, [profile, f"--window-size={width},{height}", f"--screenshot={screenshot}", url])
        if not screenshot.is_file():
            raise EdgekitError(f"chromium wrote no screenshot: {(shot.stderr.strip().splitlines() or ['?'])[-1]}")
        dom = _chromium(exe, [profile, f"--window-size={width},{height}", "--virtual-time-budget=5000",
                              "--dump-dom", url]).stdout
    image = Image.open(screenshot).convert("RGB")
    page_ink, _ = _ink(image)
    result = PageCheck(screenshot=screenshot, page_ink=page_ink)
    if 'data-probed="1"' not in dom:
        result.problems.append("the page did not finish loading in chromium (no load event seen in --dump-dom)")
    for match in re.finditer(r'data-probe="([\d,-]+)"', dom):
        index, complete, natural, left, top, w, h = (int(v) for v in match.group(1).split(","))
        probe = ImageProbe(index, natural, (left, top, w, h))
        result.images.append(probe)
        if not complete or natural <= 0:
            result.problems.append(f"image {index} did not decode (naturalWidth {natural})")
            continue
        if w <= 0 or h <= 0 or top + h > image.height or left + w > image.width:
            result.problems.append(f"image {index} lies outside the {image.width}x{image.height} screenshot")
            continue
        probe.ink, probe.colours = _ink(image.crop((left, top, left + w, top + h)))
        if probe.ink < MIN_FIGURE_INK or probe.colours < MIN_FIGURE_COLOURS:
            result.problems.append(f"image {index} region looks empty ({probe.ink:.1%} ink, {probe.colours} colours)")
    if page_ink < MIN_PAGE_INK:
        result.problems.append(f"the screenshot is blank ({page_ink:.1%} non-white pixels)")
    return result


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m edgekit.report.check REPORT.html [SCREENSHOT.png]")
        return 2
    html_path = Path(args[0])
    shot = Path(args[1]) if len(args) > 1 else html_path.with_suffix(".png")
    try:
        result = check_page(html_path, shot)
    except (EdgekitError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"screenshot {result.screenshot}: {result.page_ink:.1%} non-white; "
          + "; ".join(f"image {p.index}: {p.natural_width}px wide, {p.ink or 0:.1%} ink, {p.colours} colours"
                      for p in result.images))
    for problem in result.problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
