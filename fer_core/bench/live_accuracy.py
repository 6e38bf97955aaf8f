"""Live accuracy: labelled faces streamed through LiveProcessor, so settings that make the live path
cheaper (how often faces are classified, the smoothing) can be checked against accuracy.

    python -m fer_core.bench.live_accuracy --data ../shared/data/ferplus [--limit N] [--hold 11] [--json OUT]

FER+ valid faces (majority label), four at a time in a 2x2 grid of a 640x480 frame at 150 px, each
held for ``hold`` frames and then replaced in place by the next face, as when an expression changes
under one face track. For each setting, over the same frames: the share of faces the live detector
found, and the accuracy of the label shown on every frame of a hold and on its last frame (settled).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from fer_core.analysis.live import LiveProcessor, LiveSettings
from fer_core.bench.scenes import paste_faces
from fer_core.core.labels import CLASSES
from fer_core.training.cli import print_report

WIDTH, HEIGHT, FACE = 640, 480, 150
SLOTS = [(80, 40), (410, 40), (80, 290), (410, 290)]  # top-left corners of the 2x2 grid
STREAM_FPS = 30.0  # the processor's clock advances one camera frame per frame, whatever the CPU takes
# The settings compared: the live path's earlier rules (a classification every frame, then every 2nd
# frame) and now (every 3rd frame; the whole frame searched every second, near the faces in between).
SETTINGS = {"classify every frame, whole-frame search": LiveSettings(classify_every=1, search_every_s=0.0),
            "classify every 2nd frame": LiveSettings(classify_every=2),
            "default (every 3rd frame)": LiveSettings()}


def _slot(r: dict) -> int:
    """Which grid slot a record's box is in."""
    return int(r["x"] + r["w"] / 2 >= WIDTH / 2) + 2 * int(r["y"] + r["h"] / 2 >= HEIGHT / 2)


def stream_frames(faces: Sequence[np.ndarray], hold: int):
    """The stream: (frame, face index per slot) for ``hold`` frames per group of four faces."""
    for g in range(0, len(faces) - len(SLOTS) + 1, len(SLOTS)):
        group = [cv2.cvtColor(f, cv2.COLOR_GRAY2RGB) if f.ndim == 2 else f for f in faces[g:g + len(SLOTS)]]
        frame, _ = paste_faces(group, WIDTH, HEIGHT, FACE, positions=SLOTS)
        for _ in range(hold):
            yield frame, list(range(g, g + len(SLOTS)))


def live_accuracy(classifier, faces: Sequence[np.ndarray], labels: Sequence[int], settings: LiveSettings,
                  hold: int = 11) -> dict:
    """Found share and accuracy (every frame, last frame of each hold) of one setting on the stream."""
    stream_time = [0.0]
    lp = LiveProcessor(classifier, replace(settings, record_interval_s=0.0), clock=lambda: stream_time[0])
    names = list(classifier.classes)
    seen = right = settled_seen = settled_right = 0
    cpu = time.process_time()
    n_frames = 0
    for k, (frame, slots) in enumerate(stream_frames(faces, hold)):
        lp.process(frame)
        stream_time[0] += 1.0 / STREAM_FPS
        n_frames += 1
        last = k % hold == hold - 1
        for r in lp.drain_records():
            face = slots[_slot(r)]
            ok = r["label"] in names and CLASSES.index(r["label"]) == labels[face]
            seen, right = seen + 1, right + ok
            if last:
                settled_seen, settled_right = settled_seen + 1, settled_right + ok
    shown = n_frames * len(SLOTS)
    return {"frames": n_frames, "found_share": round(seen / shown, 4) if shown else None,
            "accuracy_all_frames": round(right / seen, 4) if seen else None,
            "accuracy_settled": round(settled_right / settled_seen, 4) if settled_seen else None,
            "cpu_ms_per_frame": round((time.process_time() - cpu) * 1000 / max(1, n_frames), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_core.bench.live_accuracy", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="a FER+ folder (FER2013Valid/label.csv)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N valid faces (0: all)")
    ap.add_argument("--hold", type=int, default=11, help="frames each face is shown (default 11: prime to 2 and 3, so a new face meets every phase of a classification every 2nd or 3rd frame)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    if args.hold < 1:
        ap.error("--hold must be at least 1")
    from fer_core.engine.classifier import Classifier
    from fer_core.training.data import load_ferplus

    data = load_ferplus(Path(args.data), "valid")
    n = len(data) if args.limit <= 0 else min(args.limit, len(data))
    if n < len(SLOTS):
        ap.error(f"needs at least {len(SLOTS)} faces; {args.data} has {len(data)} valid ones")
    classifier = Classifier.from_dir()
    report = {"faces": n, "hold_frames": args.hold,
              "settings": {name: live_accuracy(classifier, data.images[:n], data.labels[:n], s, args.hold)
                           for name, s in SETTINGS.items()}}
    print_report(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
