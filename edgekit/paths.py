"""Where the data that ships with edgekit lives (the repository is installed editable)."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA_DIR = REPO_ROOT / "samples" / "fashion-mnist"  # 10 classes x 250 real images
DETECTION_SAMPLE_DIR = REPO_ROOT / "samples" / "detection-fashion"  # COCO layout: 60 train + 20 val composed images
CALIBRATION_DIR = REPO_ROOT / "calibration"  # 10 classes x 20 real images, another split
DEFAULT_EXPORT_DIR = Path("export")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
