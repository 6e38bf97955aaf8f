"""Speed and memory of the engine with the live and video pages' default settings.

    python -m fer_core.bench.speed [--json OUT] [--frames 300] [--video-seconds 6]

Prints, and with --json writes: per-frame p50/p95 and fps through detect + classify + smooth +
annotate (LiveProcessor) on 640x480 frames where the detector really finds 1 and 5 faces
(FER-2013 faces from ../shared/data when present, drawn faces otherwise; the count is
checked), the classifier alone per face, video throughput (decode + analysis + H.264 encode)
as a multiple of real time for a 30 fps 640x480 clip, and the peak RSS of a fresh process
running the live path for >= 300 frames with TensorFlow absent from sys.modules.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from fer_core import REPO_ROOT

TARGETS = {"one_face_p50_ms": 3.0, "five_faces_p50_ms": 10.0, "classifier_p50_ms": 2.0,
           "video_realtime_factor": 2.0, "live_rss_mb": 250.0}


def _pct(ms: list[float]) -> tuple[float, float]:
    a = np.asarray(ms)
    return round(float(np.percentile(a, 50)), 2), round(float(np.percentile(a, 95)), 2)


def live_frame(n_faces: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """A 640x480 frame where the live detector finds exactly ``n_faces`` faces, and the face source."""
    from fer_core.engine.faces import DEFAULT_DETECTOR, make_detector
    from fer_core.bench.scenes import detected_scene, load_fer_faces

    det = make_detector(DEFAULT_DETECTOR, "live")
    source = "fer2013-publictest" if load_fer_faces(1) else "drawn"
    frame, _ = detected_scene(det, n_faces, 640, 480, face_size=110, seed=seed)
    found = len(det.detect(frame))
    if found != n_faces:
        raise RuntimeError(f"bench frame check failed: detector found {found} faces, expected {n_faces}")
    return frame, source


def time_live(classifier, frame: np.ndarray, n_frames: int, warmup: int = 15) -> dict:
    """Per-frame times of LiveProcessor.process with default settings on a repeated frame."""
    from fer_core.analysis.live import LiveProcessor

    lp = LiveProcessor(classifier)
    for _ in range(warmup):
        lp.process(frame)
    lp.reset()
    times = []
    t_all, cpu_all = time.perf_counter(), time.process_time()
    for _ in range(n_frames):
        t = time.perf_counter()
        lp.process(frame)
        times.append((time.perf_counter() - t) * 1000.0)
    total, cpu = time.perf_counter() - t_all, time.process_time() - cpu_all
    p50, p95 = _pct(times)
    # CPU time per frame (all threads) shows the work itself when other processes share the cores.
    return {"p50_ms": p50, "p95_ms": p95, "fps": round(n_frames / total, 1),
            "cpu_ms_per_frame": round(cpu / n_frames * 1000.0, 2),
            "faces_seen": lp.stats.n_faces, "settings": dataclasses.asdict(lp.settings)}


def time_classifier(classifier, reps: int = 200) -> float:
    """p50 ms of one preprocessed face through the classifier."""
    from fer_core.engine.litert import latency_ms

    s = classifier.input_size
    x = np.random.default_rng(0).uniform(0, 255, (1, s, s, 3)).astype(np.float32)
    return round(latency_ms(classifier, x, reps)[0], 3)


def moving_clip(frame: np.ndarray, path: Path, seconds: float, fps: int = 30) -> Path:
    """A clip of ``frame`` panning slowly (so tracking and encoding see motion)."""
    from fer_core.bench.scenes import write_test_clip

    h, w = frame.shape[:2]
    n = int(seconds * fps)
    frames = []
    for i in range(n):
        dx = 20.0 * np.sin(2 * np.pi * i / (fps * 3))
        m = np.float32([[1, 0, dx], [0, 1, 0]])
        frames.append(cv2.warpAffine(frame, m, (w, h), borderMode=cv2.BORDER_REPLICATE))
    return write_test_clip(path, frames, fps=fps)


def time_video(classifier, frame: np.ndarray, seconds: float) -> dict:
    from fer_core.engine.analyzer import MIRROR_STILLS, FaceAnalyzer
    from fer_core.engine.faces import DEFAULT_DETECTOR, SETTINGS, make_detector
    from fer_core.analysis.video import DEFAULT_SAMPLE_FPS, analyze_video

    analyzer = FaceAnalyzer(classifier, make_detector(DEFAULT_DETECTOR, "video"), mirror=MIRROR_STILLS)
    with tempfile.TemporaryDirectory(prefix="fer-bench-") as d:
        clip = moving_clip(frame, Path(d) / "clip.mp4", seconds)
        t = time.perf_counter()
        res = analyze_video(clip, analyzer, sample_fps=DEFAULT_SAMPLE_FPS, annotated_out=Path(d) / "out.mp4")
        el = time.perf_counter() - t
    return {"realtime_factor": round(res.duration_s / el, 2), "seconds": round(el, 2),
            "clip_s": res.duration_s, "frames": res.n_frames, "analysed": res.n_analyzed,
            "sample_fps": DEFAULT_SAMPLE_FPS, "detector": DEFAULT_DETECTOR,
            "detector_settings": SETTINGS[DEFAULT_DETECTOR]["video"]}


def peak_rss_mb() -> float:
    """Peak resident memory of this process image, in MB.

    /proc's VmHWM belongs to the current program; getrusage's ru_maxrss would also count the
    parent's memory that a fork copied before exec (Linux keeps the maximum across execve).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _live_child(n_frames: int) -> None:
    """Runs in a fresh process: the live path only, then reports peak RSS and whether TF loaded."""
    from fer_core.engine.classifier import Classifier
    from fer_core.analysis.live import LiveProcessor

    clf = Classifier.from_dir()
    frame, _ = live_frame(1)
    lp = LiveProcessor(clf)
    for _ in range(n_frames):
        lp.process(frame)
    lp.drain_records()
    print(json.dumps({
        "peak_rss_mb": peak_rss_mb(),
        "tensorflow_loaded": "tensorflow" in sys.modules or "keras" in sys.modules,
        "frames": lp.stats.frames, "faces": lp.stats.n_faces,
    }))


def live_rss(n_frames: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "fer_core.bench.speed", "--live-child", str(n_frames)],
                         capture_output=True, text=True, timeout=900,
                         cwd=str(REPO_ROOT))
    if out.returncode != 0:
        raise RuntimeError(f"live RSS child failed: {out.stderr[-2000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res["tensorflow_loaded"]:
        raise RuntimeError("The live path imported TensorFlow.")
    return res


def compare_detectors(n_scenes: int = 40, seed: int = 0) -> dict:
    """Faces found, false faces and time per 640x480 scene for each detector with each use's
    settings, on 1-4 faces per scene pasted at 60-160 px (FER-2013 faces when available).

    A face counts as found when a box overlaps it with IoU >= 0.4; any other box is a false face."""
    from fer_core.engine.faces import DETECTORS, PURPOSES, SETTINGS, make_detector
    from fer_core.bench.scenes import face_pool, paste_faces

    rng = np.random.default_rng(seed)
    pool = face_pool(n_scenes * 4, seed)
    scenes = []
    for i in range(n_scenes):
        k = int(rng.integers(1, 5))
        size = int(rng.integers(60, 161))
        faces = [pool[int(j)] for j in rng.choice(len(pool), k, replace=False)]
        scenes.append(paste_faces(faces, 640, 480, size, seed=seed + i))
    out = {}
    for name in DETECTORS:
        for purpose in PURPOSES if any(SETTINGS[name].values()) else ("photo",):
            key = f"{name}/{purpose}"
            try:
                det = make_detector(name, purpose)
            except Exception as exc:  # e.g. mtcnn not installed
                out[key] = {"error": str(exc)}
                continue
            det.detect(scenes[0][0])  # warm-up (graph tracing for MTCNN)
            tp = fp = total = 0
            ms = []
            cpu = time.process_time()
            for frame, truth in scenes:
                t = time.perf_counter()
                found = det.detect(frame)
                ms.append((time.perf_counter() - t) * 1000.0)
                tp += sum(any(tb.iou(f) >= 0.4 for f in found) for tb in truth)
                fp += sum(not any(tb.iou(f) >= 0.4 for tb in truth) for f in found)
                total += len(truth)
            p50, p95 = _pct(ms)
            out[key] = {"recall": round(tp / total, 3), "false_faces": fp, "faces": total, "scenes": n_scenes,
                        "p50_ms": p50, "p95_ms": p95, "settings": SETTINGS[name][purpose],
                        # CPU time per scene: what one core spends, steadier than wall time on a busy machine
                        "cpu_ms_per_scene": round((time.process_time() - cpu) * 1000.0 / n_scenes, 1)}
    return out


def alignment_effect(n_faces: int = 400, max_roll: float = 30.0, seed: int = 0) -> dict:
    """Accuracy on FER-2013 PublicTest faces rolled by up to +-max_roll degrees and pasted into
    scenes, classified from crops levelled by the detector's eye keypoints or left as found,
    beside the same faces upright. Counts only faces the default detector finds in every case."""
    from fer_core.engine.analyzer import MIRROR_STILLS, FaceAnalyzer
    from fer_core.engine.classifier import Classifier
    from fer_core.training.data import load_dataset
    from fer_core.engine.faces import DEFAULT_DETECTOR, make_detector
    from fer_core.bench.scenes import paste_faces, shared_data_dir

    data = load_dataset(shared_data_dir() / "fer2013", "fer2013-folders", "public_test")
    rng = np.random.default_rng(seed)
    det, clf = make_detector(DEFAULT_DETECTOR, "photo"), Classifier.from_dir()
    levelled, as_found = (FaceAnalyzer(clf, det, align=a, mirror=MIRROR_STILLS) for a in (True, False))
    right = {"upright": 0, "rolled_levelled": 0, "rolled_as_found": 0}
    counted = 0
    for i in rng.choice(len(data), n_faces, replace=False):
        face = cv2.cvtColor(cv2.resize(data.images[i], (160, 160), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2RGB)
        angle = float(rng.uniform(-max_roll, max_roll))
        rolled = cv2.warpAffine(face, cv2.getRotationMatrix2D((80, 80), angle, 1.0), (160, 160),
                                borderMode=cv2.BORDER_REPLICATE)
        upright_scene, _ = paste_faces([face], 400, 360, 160, seed=int(i), positions=[(120, 100)])
        rolled_scene, _ = paste_faces([rolled], 400, 360, 160, seed=int(i), positions=[(120, 100)])
        preds = [levelled.analyze(upright_scene), levelled.analyze(rolled_scene), as_found.analyze(rolled_scene)]
        if any(len(p) != 1 for p in preds):
            continue
        counted += 1
        for key, p in zip(right, preds):
            right[key] += int(p[0].probs.argmax() == data.labels[i])
    return {"faces": int(n_faces), "found_in_all": counted, "max_roll_deg": max_roll,
            **{f"{k}_accuracy": round(v / max(counted, 1), 4) for k, v in right.items()}}


def run(frames: int = 300, video_seconds: float = 6.0, live_frames: int = 300) -> dict:
    from fer_core.engine.classifier import Classifier
    from fer_core.engine.faces import DEFAULT_DETECTOR, SETTINGS

    load_start = [round(x, 2) for x in os.getloadavg()]
    clf = Classifier.from_dir()
    one, source = live_frame(1)
    five, _ = live_frame(5)
    r1 = time_live(clf, one, frames)
    r5 = time_live(clf, five, frames)
    if r1["faces_seen"] != 1 or r5["faces_seen"] != 5:
        raise RuntimeError(f"live path saw {r1['faces_seen']} / {r5['faces_seen']} faces, expected 1 / 5")
    vid = time_video(clf, one, video_seconds)
    rss = live_rss(max(300, live_frames))
    return {
        "one_face_p50_ms": r1["p50_ms"], "one_face_p95_ms": r1["p95_ms"], "one_face_fps": r1["fps"],
        "five_faces_p50_ms": r5["p50_ms"], "five_faces_p95_ms": r5["p95_ms"], "five_faces_fps": r5["fps"],
        "one_face_cpu_ms_per_frame": r1["cpu_ms_per_frame"], "five_faces_cpu_ms_per_frame": r5["cpu_ms_per_frame"],
        "classifier_p50_ms": time_classifier(clf),
        "video_realtime_factor": vid["realtime_factor"],
        "live_rss_mb": rss["peak_rss_mb"],
        "settings": {
            "live": {**r1["settings"], "detector": DEFAULT_DETECTOR,
                     "detector_settings": SETTINGS[DEFAULT_DETECTOR]["live"]},
            "video": vid, "frame_size": "640x480", "faces": source, "frames_timed": frames,
            "live_rss_frames": rss["frames"], "model": str(clf.path), "backend": clf.backend,
            "input_size": clf.input_size, "classifier_threads": clf.threads,
            "detectors_compared": "python -m fer_core.bench.speed --compare-detectors 40",
            "cpu_count": os.cpu_count(), "load_avg_at_start": load_start, "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "machine": platform.machine(),
        },
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_core.bench.speed", description=__doc__.split("\n")[0])
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--frames", type=int, default=300, help="timed live frames per scene")
    ap.add_argument("--video-seconds", type=float, default=6.0)
    ap.add_argument("--live-frames", type=int, default=300, help="frames for the RSS child (>= 300)")
    ap.add_argument("--compare-detectors", type=int, default=0, metavar="N",
                    help="instead: compare the face detectors on N generated scenes")
    ap.add_argument("--alignment", type=int, default=0, metavar="N",
                    help="instead: accuracy on N rolled FER-2013 PublicTest faces, crops levelled by the eyes or not")
    ap.add_argument("--live-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.live_child:
        _live_child(args.live_child)
        return 0
    if args.alignment or args.compare_detectors:
        res = alignment_effect(args.alignment) if args.alignment else compare_detectors(args.compare_detectors)
        print(json.dumps(res, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2))
        return 0
    try:
        res = run(args.frames, args.video_seconds, args.live_frames)
    except Exception as exc:  # the CLI reports, it does not dump a traceback
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    for k, v in res.items():
        if k == "settings":
            continue
        tgt = TARGETS.get(k)
        mark = ""
        if tgt is not None:
            ok = v >= tgt if k == "video_realtime_factor" else v <= tgt
            mark = f"  (target {'>=' if k == 'video_realtime_factor' else '<='} {tgt}: {'ok' if ok else 'MISSED'})"
        print(f"{k:24s} {v}{mark}")
    print("settings:", json.dumps(res["settings"]["live"]))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
