"""Speed and memory of the engine with the live and video pages' default settings, and faces found.

    python -m fer_core.bench.speed [--json OUT] [--frames 300] [--video-seconds 6] [--scenes 40] [--photos N]

Prints, and with --json writes: per-frame p50/p95 and fps through detect + classify + smooth +
annotate (LiveProcessor) on 640x480 frames where the detector really finds 1 and 5 faces
(FER-2013 faces from ../shared/data when present, drawn faces otherwise; the count is
checked), the classifier alone per face, video throughput with the Video page's defaults
(decode + analysis + H.264 encode) as a multiple of real time for a 30 fps 640x480 clip, and the
peak RSS of a fresh process running the live path for >= 300 frames with TensorFlow absent from
sys.modules. Faces: the photo
detector on the scene benchmark (faces found, false faces) and the Photo page's pipeline on
``../shared/data/realphotos_dev`` when present (600 real photos with one face each: share with no
face, share with a second face, CPU ms per photo).
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
           "video_realtime_factor": 4.0, "live_rss_mb": 250.0,
           # faces (issue 27): the photo detector on the scene benchmark and on realphotos_dev
           "scene_faces_found": 0.96, "scene_false_faces": 0, "photo_no_face_share": 0.01,
           "photo_second_face_share": 0.0}
AT_LEAST = {"video_realtime_factor", "scene_faces_found"}  # targets to reach; the others are ceilings


def _pct(ms: list[float]) -> tuple[float, float]:
    a = np.asarray(ms)
    return round(float(np.percentile(a, 50)), 2), round(float(np.percentile(a, 95)), 2)


def live_frame(n_faces: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """A 640x480 frame where the live detector finds exactly ``n_faces`` faces, and the face source."""
    frame, _, source = _bench_scene(n_faces, seed)
    return frame, source


def _bench_scene(n_faces: int, seed: int = 0) -> tuple[np.ndarray, list, str]:
    """live_frame's frame, with where its faces are."""
    from fer_core.engine.faces import DEFAULT_DETECTOR, make_detector
    from fer_core.bench.scenes import detected_scene, load_fer_faces

    det = make_detector(DEFAULT_DETECTOR, "live")
    source = "fer2013-publictest" if load_fer_faces(1) else "drawn"
    frame, boxes = detected_scene(det, n_faces, 640, 480, face_size=110, seed=seed)
    found = len(det.detect(frame))
    if found != n_faces:
        raise RuntimeError(f"bench frame check failed: detector found {found} faces, expected {n_faces}")
    return frame, boxes, source


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


def pan(i: int, fps: int = 30) -> float:
    """How far (px, to the right) ``moving_clip`` has moved its frame at frame ``i``."""
    return 20.0 * np.sin(2 * np.pi * i / (fps * 3))


def moving_clip(frame: np.ndarray, path: Path, seconds: float, fps: int = 30) -> Path:
    """A clip of ``frame`` panning slowly (so tracking and encoding see motion)."""
    from fer_core.bench.scenes import write_test_clip

    h, w = frame.shape[:2]
    frames = [cv2.warpAffine(frame, np.float32([[1, 0, pan(i, fps)], [0, 1, 0]]), (w, h),
                             borderMode=cv2.BORDER_REPLICATE) for i in range(int(seconds * fps))]
    return write_test_clip(path, frames, fps=fps)


def faces_found_share(records: list[dict], faces: list, n_analysed: int, fps: int = 30) -> float:
    """Of the (analysed frame, face) pairs of a ``moving_clip``, the share with a record whose box
    overlaps the face where the pan put it (IoU >= 0.4): tracking between detections must not lose faces."""
    from fer_core.core.results import FaceBox

    by_frame: dict[int, list] = {}
    for r in records:
        by_frame.setdefault(int(r["frame"]), []).append(FaceBox(r["x"], r["y"], r["w"], r["h"]))
    hits = sum(any(FaceBox(round(f.x + pan(i, fps)), f.y, f.w, f.h).iou(b) >= 0.4 for b in boxes)
               for i, boxes in by_frame.items() for f in faces)
    return round(hits / max(1, n_analysed * len(faces)), 4)


def time_video(classifier, frame: np.ndarray, seconds: float, faces: list | None = None) -> dict:
    """The Video page's defaults on a panning 640x480 clip of ``frame``, run as the page runs them
    (``analyze_upload``: the upload's bytes in, the annotated mp4's bytes out); ``faces``: where
    the frame's faces are, for the share found."""
    from fer_core.engine.analyzer import make_analyzer
    from fer_core.engine.faces import DEFAULT_DETECTOR, REGISTRY
    from fer_core.analysis.video import DEFAULT_DETECT_INTERVAL_S, DEFAULT_SAMPLE_FPS
    from fer_core.app.video_upload import analyze_upload
    from fer_core.core.limits import Limits

    analyzer = make_analyzer(classifier, purpose="video")
    with tempfile.TemporaryDirectory(prefix="fer-bench-") as d:
        data = moving_clip(frame, Path(d) / "clip.mp4", seconds).read_bytes()
    t, cpu = time.perf_counter(), time.process_time()
    # The page's defaults: the first rate (10 a second), "Smooth emotions over time" on.
    res, _ = analyze_upload(data, "clip.mp4", analyzer, limits=Limits().video(), sample_fps=DEFAULT_SAMPLE_FPS,
                            smoothing="ema")
    el, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {"realtime_factor": round(res.duration_s / el, 2), "seconds": round(el, 2),
            # clip time / CPU time of this process (all threads): what the work alone allows on one core
            "cpu_realtime_factor": round(res.duration_s / cpu, 2),
            "clip_s": res.duration_s, "frames": res.n_frames, "analysed": res.n_analyzed,
            "faces_found_share": faces_found_share(res.records, faces, res.n_analyzed) if faces else None,
            "sample_fps": DEFAULT_SAMPLE_FPS, "smoothing": "ema", "detect_interval_s": DEFAULT_DETECT_INTERVAL_S,
            "detector": DEFAULT_DETECTOR, "detector_settings": REGISTRY[DEFAULT_DETECTOR].settings["video"]}


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


def benchmark_scenes(n_scenes: int = 40, seed: int = 0) -> list[tuple[np.ndarray, list]]:
    """The scene benchmark: 640x480 scenes of 1-4 faces pasted at 60-160 px (FER-2013 faces when
    available), with where the faces are."""
    from fer_core.bench.scenes import face_pool, paste_faces

    rng = np.random.default_rng(seed)
    pool = face_pool(n_scenes * 4, seed)
    scenes = []
    for i in range(n_scenes):
        k = int(rng.integers(1, 5))
        size = int(rng.integers(60, 161))
        faces = [pool[int(j)] for j in rng.choice(len(pool), k, replace=False)]
        scenes.append(paste_faces(faces, 640, 480, size, seed=seed + i))
    return scenes


def scene_figures(det, scenes: list[tuple[np.ndarray, list]]) -> dict:
    """Faces found, false faces and time per scene for one detector. A face counts as found when a
    box overlaps it with IoU >= 0.4; any other box is a false face."""
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
    return {"recall": round(tp / total, 3), "false_faces": fp, "faces": total, "scenes": len(scenes),
            "p50_ms": p50, "p95_ms": p95,
            # CPU time per scene: what one core spends, steadier than wall time on a busy machine
            "cpu_ms_per_scene": round((time.process_time() - cpu) * 1000.0 / len(scenes), 1)}


def compare_detectors(n_scenes: int = 40, seed: int = 0) -> dict:
    """The scene benchmark (``benchmark_scenes``, ``scene_figures``) for each detector with each use's settings."""
    from fer_core.engine.faces import PURPOSES, REGISTRY, make_detector

    scenes = benchmark_scenes(n_scenes, seed)
    out = {}
    for name, entry in REGISTRY.items():
        for purpose in PURPOSES if any(entry.settings.values()) else ("photo",):
            key = f"{name}/{purpose}"
            try:
                det = make_detector(name, purpose)
            except Exception as exc:  # e.g. mtcnn not installed
                out[key] = {"error": str(exc)}
                continue
            out[key] = {**scene_figures(det, scenes), "settings": entry.settings[purpose]}
    return out


def real_photos(classifier, limit: int | None = None, root: Path | None = None) -> dict | None:
    """The Photo page's pipeline (decode, default detector, classifier) on real photos with one face
    each (``realphotos_dev``, or None when it is absent; ``limit`` photos spread evenly over it): the
    share with no face, the share with a second (false) face, CPU ms per photo (decode included)."""
    from fer_core.analysis.photo import analyze_photo
    from fer_core.bench.scenes import shared_data_dir
    from fer_core.engine.analyzer import MIRROR_STILLS, FaceAnalyzer
    from fer_core.engine.faces import DEFAULT_DETECTOR, make_detector
    from fer_core.training.photo_eval import labelled_photos

    root = Path(root) if root is not None else shared_data_dir() / "realphotos_dev"
    if not root.is_dir():
        return None
    photos = [p for p, _ in labelled_photos(root)]
    photos = photos[::max(1, len(photos) // limit)][:limit] if limit else photos
    analyzer = FaceAnalyzer(classifier, make_detector(DEFAULT_DETECTOR, "photo"), mirror=MIRROR_STILLS)
    no_face = second_face = 0
    ms = []
    for path in photos:
        data = path.read_bytes()
        cpu = time.process_time()
        result = analyze_photo(data, analyzer)
        ms.append((time.process_time() - cpu) * 1000.0)
        found = 0 if result.whole_image else result.n_faces + result.n_dropped
        no_face += found == 0
        second_face += found > 1
    p50, p95 = _pct(ms)
    return {"photos": len(photos), "no_face_share": round(no_face / len(photos), 4),
            "second_face_share": round(second_face / len(photos), 4), "cpu_ms_p50": p50, "cpu_ms_p95": p95,
            "data": str(root)}


def alignment_effect(n_faces: int = 400, max_roll: float = 30.0, seed: int = 0) -> dict:
    """Accuracy on FER-2013 PublicTest faces rolled by up to +-max_roll degrees and pasted into
    scenes, classified from crops levelled by the detector's eye keypoints or left as found,
    beside the same faces upright. Counts only faces the default detector finds in every case."""
    from fer_core.engine.analyzer import make_analyzer
    from fer_core.engine.classifier import Classifier
    from fer_core.training.data import load_dataset
    from fer_core.engine.faces import DEFAULT_DETECTOR, make_detector
    from fer_core.bench.scenes import paste_faces, shared_data_dir

    data = load_dataset(shared_data_dir() / "fer2013", "fer2013-folders", "public_test")
    rng = np.random.default_rng(seed)
    det, clf = make_detector(DEFAULT_DETECTOR, "photo"), Classifier.from_dir()
    levelled, as_found = (make_analyzer(clf, det, align=a) for a in (True, False))
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


def run(frames: int = 300, video_seconds: float = 6.0, live_frames: int = 300, scenes: int = 40,
        photos: int | None = None) -> dict:
    """Every figure; ``scenes``: scenes of the scene benchmark (0: none), ``photos``: real photos
    (None: all of realphotos_dev, 0: none)."""
    from fer_core.engine.classifier import Classifier
    from fer_core.engine.faces import DEFAULT_DETECTOR, REGISTRY, make_detector

    load_start = [round(x, 2) for x in os.getloadavg()]
    clf = Classifier.from_dir()
    one, one_faces, source = _bench_scene(1)
    five, _ = live_frame(5)
    r1 = time_live(clf, one, frames)
    r5 = time_live(clf, five, frames)
    if r1["faces_seen"] != 1 or r5["faces_seen"] != 5:
        raise RuntimeError(f"live path saw {r1['faces_seen']} / {r5['faces_seen']} faces, expected 1 / 5")
    vid = time_video(clf, one, video_seconds, one_faces)
    rss = live_rss(max(300, live_frames))
    scene = scene_figures(make_detector(DEFAULT_DETECTOR, "photo"), benchmark_scenes(scenes)) if scenes else {}
    real = real_photos(clf, photos) if photos != 0 else None
    return {
        "one_face_p50_ms": r1["p50_ms"], "one_face_p95_ms": r1["p95_ms"], "one_face_fps": r1["fps"],
        "five_faces_p50_ms": r5["p50_ms"], "five_faces_p95_ms": r5["p95_ms"], "five_faces_fps": r5["fps"],
        "one_face_cpu_ms_per_frame": r1["cpu_ms_per_frame"], "five_faces_cpu_ms_per_frame": r5["cpu_ms_per_frame"],
        "classifier_p50_ms": time_classifier(clf),
        "video_realtime_factor": vid["realtime_factor"],
        "video_cpu_realtime_factor": vid["cpu_realtime_factor"],
        "video_faces_found_share": vid["faces_found_share"],
        "live_rss_mb": rss["peak_rss_mb"],
        "scene_faces_found": scene.get("recall"), "scene_false_faces": scene.get("false_faces"),
        "scene_cpu_ms": scene.get("cpu_ms_per_scene"),
        **{f"photo_{k}": (real or {}).get(k)
           for k in ("no_face_share", "second_face_share", "cpu_ms_p50", "cpu_ms_p95")},
        "settings": {
            "live": {**r1["settings"], "detector": DEFAULT_DETECTOR,
                     "detector_settings": REGISTRY[DEFAULT_DETECTOR].settings["live"]},
            "video": vid, "frame_size": "640x480", "faces": source, "frames_timed": frames,
            "live_rss_frames": rss["frames"], "model": str(clf.path), "backend": clf.backend,
            "input_size": clf.input_size, "classifier_threads": clf.threads,
            "detectors_compared": "python -m fer_core.bench.speed --compare-detectors 40",
            "scenes": {**scene, "detector": f"{DEFAULT_DETECTOR}/photo"} if scene else "not run",
            "real_photos": real or ("not run" if photos == 0 else "realphotos_dev not found"),
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
    ap.add_argument("--scenes", type=int, default=40, help="scenes of the scene benchmark (0: skip it)")
    ap.add_argument("--photos", type=int, default=None,
                    help="real photos of ../shared/data/realphotos_dev to run (default all 600; 0: skip them)")
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
        res = run(args.frames, args.video_seconds, args.live_frames, args.scenes, args.photos)
    except Exception as exc:  # the CLI reports, it does not dump a traceback
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    for k, v in res.items():
        if k == "settings":
            continue
        tgt = TARGETS.get(k)
        mark = ""
        if v is None:
            v = "not run"
        elif tgt is not None:
            ok = v >= tgt if k in AT_LEAST else v <= tgt
            mark = f"  (target {'>=' if k in AT_LEAST else '<='} {tgt}: {'ok' if ok else 'MISSED'})"
        print(f"{k:24s} {v}{mark}")
    print("settings:", json.dumps(res["settings"]["live"]))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
