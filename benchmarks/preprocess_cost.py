"""What the exact float64 evaluation transform costs against torchvision's float32 (ATen) resize it replaced.

    PYTHONPATH=. python benchmarks/preprocess_cost.py [--rounds 5]

Per size (64 and 224 px) and image set (the 20 shipped photographs, 512 x 512 and one 1024 x 683; 40 shipped
28 px Fashion-MNIST PNGs): the two transforms run interleaved, image by image, one thread
(torch.set_num_threads(1); numpy's elementwise work is single-threaded); prints ms per image for each and the ratio (exact / float32). Quote the ratio with the CPU
(`lscpu`); absolute figures depend on the machine. The old transform is rebuilt here from torchvision: PILToTensor,
v / 255 in float32, resize(antialias=True) in float32, floor centre crop, Normalize in float32.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torchvision.transforms import v2 as T

from edgekit.preprocess import Preprocessing, center_crop_geometry, load_rgb

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def float32_aten(pre: Preprocessing):
    def transform(image):
        x = T.functional.pil_to_tensor(image).to(torch.float32) / 255.0
        new_h, new_w, top, left = center_crop_geometry(x.shape[1], x.shape[2], pre.img_size)
        if (new_h, new_w) != tuple(x.shape[1:]):
            x = T.functional.resize(x, [new_h, new_w], interpolation=T.InterpolationMode.BILINEAR, antialias=True)
        x = x[:, top:top + pre.img_size, left:left + pre.img_size]
        return T.functional.normalize(x, list(pre.mean), list(pre.std))
    return transform


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over each image set")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sets = {"photos 512-1024 px": sorted((SAMPLES / "imagenet-photos").glob("*.jpg")),
            "fashion-mnist 28 px": sorted((SAMPLES / "fashion-mnist").glob("*/*.png"))[:40]}
    for size in (64, 224):
        pre = Preprocessing(img_size=size)
        exact, old = pre.eval_transform(), float32_aten(pre)
        for name, paths in sets.items():
            images = [load_rgb(p) for p in paths]
            for image in images[:2]:
                exact(image), old(image)  # warm-up (weight tables, allocator)
            spent = {"exact": 0.0, "float32": 0.0}
            for _ in range(args.rounds):
                for image in images:
                    for label, transform in (("exact", exact), ("float32", old)):
                        start = time.perf_counter()
                        transform(image)
                        spent[label] += time.perf_counter() - start
            n = args.rounds * len(images)
            e, f = 1000 * spent["exact"] / n, 1000 * spent["float32"] / n
            print(f"{size:4d} px  {name:20s}  exact float64 {e:7.2f} ms  float32 ATen {f:7.2f} ms  ratio {e / f:5.2f}")


if __name__ == "__main__":
    main()
