"""Pack what a GPU training session needs into .devpack/ (the device tool carries at most 64 MiB).

    python scripts/device_pack.py --lite0 PATH.pth --init models/model.keras

FER+ train faces travel as WebP (quality 95: 32 MB instead of 53 MB as PNG), validation faces as
lossless WebP, so selection there sees exactly the pixels evaluation here sees. Start
weights travel as float16 arrays in get_weights() order (half the size; they are only a start).
scripts/device_train.py unpacks them on the GPU machine.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2
import numpy as np

from fer_core.training.data import load_dataset


def pack_split(root: Path, split: str, folder: str, out: Path, lossy: bool) -> int:
    ds = load_dataset(root, "ferplus", split)
    blobs = []
    for name, img in zip(ds.names, ds.images):
        quality = 95 if lossy else 101  # OpenCV: above 100 is lossless WebP
        blobs.append(cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, quality])[1].tobytes())
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    np.savez(out / f"{folder}.npz", names=np.array([n.split("/", 1)[1] for n in ds.names]),
             blob=np.frombuffer(b"".join(blobs), np.uint8), offsets=offsets)
    shutil.copyfile(root / folder / "label.csv", out / f"{folder}.label.csv")
    return len(blobs)


def pack_weights(model, path: Path) -> None:
    np.savez(path, *[w.astype(np.float16) for w in model.get_weights()])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data/ferplus")
    ap.add_argument("--out", default=".devpack")
    ap.add_argument("--lite0", default="lite0", help="'lite0' (the installed wheel) or a Lite0 .pth file")
    ap.add_argument("--init", default="models/model.keras", help="a trained model to continue from")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    root = Path(args.data)
    print("train", pack_split(root, "train", "FER2013Train", out, lossy=True))
    print("valid", pack_split(root, "valid", "FER2013Valid", out, lossy=False))
    from fer_core.training.network import build_model
    from fer_core.core.tf_import import keras

    pack_weights(build_model(weights=args.lite0), out / "lite0_init.npz")
    pack_weights(keras().models.load_model(args.init, compile=False), out / "continue_init.npz")
    for f in sorted(out.iterdir()):
        print(f"{f.name}: {f.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
