"""Batch analysis: many photos and videos in, one emotion record table out.

    python -m fer_core.analysis.batch INPUT... --out TABLE [--workers N | --dask ADDRESS]

INPUTs are files, folders (searched recursively for photos and videos) and glob patterns. TABLE
has one row per face per analysed frame: the file (``source``) followed by the record the rest of
the project uses (``fer_core.core.records.make_record``: t, frame, face_id, box, label, confidence and
the seven probabilities; a photo is frame 0 at t = 0). CSV or Parquet, by TABLE's extension.
Beside it, ``NAME.summary.csv`` (or ``.parquet``) has one row per file: frames analysed, faces,
dominant emotion, and the error that made a file be skipped; folders it could not read, symlink loops
and dangling links get a row too. Searches enter each real folder once, so a loop never makes them endless.
An INPUT or TABLE that cannot be used (too long, a folder, a missing or read-only folder, a full disk)
is a message and exit status 2, before any work where it can be known before.

The settings are the Photo and Video pages' defaults, each with a flag. Every finished file is
saved at once as a part file (written, synced, then renamed) in ``TABLE.parts/``, and the parts
are merged into the table at the end. A run stopped in any way, kill -9 included, loses only the
files being analysed at that moment; the same command then goes on where it stopped. Files that
failed are tried again on a rerun.
"""

from __future__ import annotations

import argparse
import csv
import errno
import fnmatch
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from fer_core.engine.analyzer import MIRROR_STILLS, FaceAnalyzer, make_analyzer
from fer_core.engine.classifier import Classifier
from fer_core.engine.faces import DEFAULT_DETECTOR, DETECTORS, DetectorUnavailableError
from fer_core.engine.litert import DEFAULT_THREADS
from fer_core.core.imageio import ImageDecodeError
from fer_core.core.model_folder import ModelFilesError
from fer_core.analysis.photo import analyze_photo
from fer_core.core.records import FLOAT_COLUMNS, INT_COLUMNS, RECORD_COLUMNS, dominant_emotion, make_record
from fer_core.core.limits import VideoLimits
from fer_core.analysis.video import DEFAULT_SAMPLE_FPS, VIDEO_EXTENSIONS, VideoError, analyze_video

PHOTO_EXTENSIONS: tuple[str, ...] = ("jpg", "jpeg", "png", "webp", "bmp")  # the Photo page's upload types
TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet"}
TABLE_COLUMNS: tuple[str, ...] = ("source", *RECORD_COLUMNS)
SUMMARY_COLUMNS: tuple[str, ...] = ("source", "kind", "frames", "faces", "records", "dominant_emotion",
                                    "duration_s", "seconds", "note", "error")
PROBLEM_KINDS = ("folder", "link")  # summary rows for what a folder search could not follow
# Batch inputs are recorded interviews and sessions: longer than the Video page's 10-minute uploads.
BATCH_MAX_MINUTES = 240.0
DASK_CONNECT_TIMEOUT = "15s"
PARENT_CHECK_S = 0.5  # how often a worker process looks whether the command that started it is still there
_INT_COLUMNS = (*INT_COLUMNS, "frames", "faces", "records")
_FLOAT_COLUMNS = (*FLOAT_COLUMNS, "duration_s", "seconds")


class BatchError(RuntimeError):
    """The run cannot go on (model, detector, cluster or output unusable); str() is user-facing."""

    status = 1  # the command's exit status


class PathError(BatchError):
    """An INPUT or --out that cannot be used (too long, unwritable, a folder, a full disk): exit status 2,
    like a wrong argument, and raised before any work wherever it can be known before."""

    status = 2


@dataclass(frozen=True)
class BatchSettings:
    """What the Photo and Video pages let a user choose, with their defaults; sent to every worker."""

    detector: str = DEFAULT_DETECTOR
    sample_fps: float | None = DEFAULT_SAMPLE_FPS  # None: every frame
    mirror: bool = MIRROR_STILLS
    smoothing: str = "ema"  # the Video page's "Smooth emotions over time", on by default
    max_minutes: float = BATCH_MAX_MINUTES
    model_dir: str | None = None  # None: FER_MODEL_DIR or the shipped models/, as seen by each worker
    threads: int = DEFAULT_THREADS  # classifier threads per process


@dataclass
class FileResult:
    """One file's summary row and its records (each with ``source`` first)."""

    summary: dict
    records: list[dict] = field(default_factory=list)


# ----------------------------------------------------------------------------- inputs
def file_kind(path: str | os.PathLike) -> str | None:
    """'photo' or 'video' by extension; None for anything else."""
    ext = Path(path).suffix.lower().lstrip(".")
    return "photo" if ext in PHOTO_EXTENSIONS else "video" if ext in VIDEO_EXTENSIONS else None


def _is_pattern(text: str) -> bool:
    return any(ch in text for ch in "*?[")


@dataclass
class Inputs:
    """What the INPUTs name: the files (absolute, each once, in order), the INPUTs that named none, and
    what a search could not follow (unreadable folders, symlink loops, dangling links), for the summary."""

    files: list[Path]
    unmatched: list[str]
    problems: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (kind, reason)
    searched: list[str] = field(default_factory=list)  # the folders searched, for clearing old problems


class _Search:
    """Folder searches that enter each real folder once, so no symlink loop makes them endless (glob's
    ``**`` follows links forever), and that note what they could not follow instead of skipping it."""

    def __init__(self, problems: dict[str, tuple[str, str]]) -> None:
        self.problems = problems
        self._searched: set[tuple[int, int]] = set()  # real folders a whole-folder search has been through

    def _note(self, path: str, kind: str, reason: str) -> None:
        self.problems.setdefault(os.path.abspath(path), (kind, reason))

    def _link_problem(self, path: str) -> bool:
        """Note a link that leads nowhere (dangling, or a loop of links); True if it was one."""
        try:
            os.stat(path)
            return False
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self._note(path, "link", "symlink loop")
            elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
                self._note(path, "link", f"dangling link to {_readlink(path)}")
            else:
                self._note(path, "link", f"cannot follow the link: {exc.strerror or exc}")
            return True

    def tree(self, root: Path, seen: set[tuple[int, int]] | None = None) -> Iterator[tuple[Path, list[str]]]:
        """``root`` and every folder below it with its file names, symlinked folders followed, each real
        folder once (not again if in ``seen``); a link back to a folder it is inside is reported as a loop."""
        seen = set() if seen is None else seen
        try:
            top = os.stat(root)
        except OSError:
            return
        if (top.st_dev, top.st_ino) in seen:
            return
        inside: dict[str, frozenset] = {os.fspath(root): frozenset({(top.st_dev, top.st_ino)})}
        seen.add((top.st_dev, top.st_ino))

        def unreadable(exc: OSError) -> None:
            self._note(exc.filename or os.fspath(root), "folder", f"cannot read the folder: {exc.strerror or exc}")

        for folder, dirs, names in os.walk(root, onerror=unreadable, followlinks=True):
            above = inside.pop(folder, frozenset())
            keep = []
            for d in sorted(dirs):
                sub = os.path.join(folder, d)
                try:
                    st = os.stat(sub)
                except OSError:
                    continue
                key = (st.st_dev, st.st_ino)
                if key in above:
                    self._note(sub, "link", f"symlink loop: leads back to {_readlink(sub)}")
                elif key not in seen:
                    seen.add(key)
                    inside[sub] = above | {key}
                    keep.append(d)
            dirs[:] = keep
            names = [n for n in names if not (os.path.islink(os.path.join(folder, n))
                                              and self._link_problem(os.path.join(folder, n)))]
            yield Path(folder), sorted(names)

    def folder(self, root: Path) -> list[Path]:
        """A folder's photos and videos, searched recursively (nothing for one an earlier search went through)."""
        return sorted(Path(folder, n) for folder, names in self.tree(root, self._searched) for n in names
                      if file_kind(n) and os.path.isfile(os.path.join(folder, n)))

    def entries(self, folder: Path) -> list[str]:
        try:
            return sorted(os.listdir(folder))
        except OSError as exc:
            if exc.errno != errno.ENOENT and exc.errno != errno.ENOTDIR:
                self._note(os.fspath(folder), "folder", f"cannot read the folder: {exc.strerror or exc}")
            return []

    def match(self, folder: Path, parts: Sequence[str]) -> Iterator[Path]:
        """What glob.glob(recursive=True) finds for the pattern ``parts`` under ``folder`` (names starting
        with '.' only for a part that does too), with ``**`` searched loop-safely."""
        if not parts:
            yield folder
            return
        head, rest = parts[0], parts[1:]
        if head == "**":
            if not rest:  # the folder itself: searching it finds everything below
                yield folder
                return
            for sub, _ in self.tree(folder):
                if sub == folder or not any(p.startswith(".") for p in sub.relative_to(folder).parts):
                    yield from self.match(sub, rest)
            return
        if not _is_pattern(head):
            names = [head] if os.path.lexists(folder / head) else []
        else:
            names = [n for n in self.entries(folder)
                     if fnmatch.fnmatchcase(n, head) and (head.startswith(".") or not n.startswith("."))]
        for name in names:
            path = folder / name
            if rest:
                if path.is_dir():
                    yield from self.match(path, rest)
            elif not (path.is_symlink() and self._link_problem(os.fspath(path))):
                yield path


def _abridged(text: str, keep: int = 100) -> str:
    """A path for a message: a 5,000-character one would hide the message itself."""
    return text if len(text) <= keep else f"{text[:keep // 2]}...{text[-keep // 2:]} ({len(text)} characters)"


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _pattern_start(item: str) -> tuple[Path, list[str]]:
    """The folder a pattern starts in (its parts before the first wildcard) and the parts from there."""
    parts = Path(os.path.expanduser(item)).parts
    first = next(i for i, p in enumerate(parts) if _is_pattern(p))
    return Path(*parts[:first]) if first else Path("."), list(parts[first:])


def _expand(item: str, search: _Search, searched: list[str]) -> list[Path]:
    """The files one INPUT names: itself, a folder's photos and videos, or a pattern's matches.
    An OSError (a name too long, a folder above it unreadable) says the INPUT itself cannot be used."""
    path = Path(item).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        searched.append(os.path.abspath(path))
        return search.folder(path)
    if path.is_symlink():
        search._link_problem(os.fspath(path))
        return []
    if _is_pattern(item):
        start, parts = _pattern_start(item)
        searched.append(os.path.abspath(start))
        out: list[Path] = []
        for hit in search.match(start, parts):
            out.extend(search.folder(hit) if hit.is_dir() else [hit] if hit.is_file() and file_kind(hit) else [])
        return out
    return []


def find_inputs(inputs: Sequence[str | os.PathLike]) -> Inputs:
    """Every file the INPUTs name, once each (absolute, in order), the INPUTs that named none, and what
    the searches could not follow. An INPUT that cannot be used at all raises PathError, before any work.

    A file named on its own is kept whatever its extension, so that it is reported, not ignored."""
    found: dict[Path, None] = {}
    out = Inputs([], [])
    search = _Search(out.problems)
    for item in map(str, inputs):
        try:
            hits = _expand(item, search, out.searched)
            for f in hits:
                found.setdefault(f.resolve(), None)
        except OSError as exc:
            raise PathError(f"Cannot use the input {_abridged(item)}: {exc.strerror or exc}.") from None
        if not hits:
            out.unmatched.append(item)
    out.files = list(found)
    return out


# ----------------------------------------------------------------------------- engine
@dataclass
class _Engine:
    photo: FaceAnalyzer
    video: FaceAnalyzer


_engines: dict[BatchSettings, _Engine] = {}
_engines_lock = threading.Lock()


def engine(settings: BatchSettings) -> _Engine:
    """This process's analyzers for ``settings``, built on first use: each worker builds its own once."""
    with _engines_lock:
        if settings not in _engines:
            _engines[settings] = _build_engine(settings)
        return _engines[settings]


def _build_engine(s: BatchSettings) -> _Engine:
    """One classifier, and the detector tuned for photos and for videos, as the pages make them."""
    try:
        classifier = Classifier.from_dir(s.model_dir, threads=s.threads)
    except ModelFilesError as exc:
        raise BatchError(f"The emotion model could not be loaded: {exc}") from None
    try:
        return _Engine(*[make_analyzer(classifier, s.detector, purpose, mirror=s.mirror) for purpose in ("photo", "video")])
    except (DetectorUnavailableError, ValueError) as exc:
        raise BatchError(f"The face detector {s.detector} is not available: {exc}") from None


class _Counting:
    """An analyzer that reports each analysed frame, for the frames progress bar."""

    def __init__(self, analyzer: FaceAnalyzer, on_frame: Callable[[int], None]) -> None:
        self._analyzer, self._on_frame = analyzer, on_frame

    def analyze(self, rgb):
        return self.analyze_counted(rgb)[0]

    def analyze_counted(self, rgb):
        counted = self._analyzer.analyze_counted(rgb)
        self._on_frame(1)
        return counted

    def __getattr__(self, name: str):
        return getattr(self._analyzer, name)


# ----------------------------------------------------------------------------- one file
def _photo(path: Path, analyzer) -> tuple[list[dict], dict]:
    result = analyze_photo(path.read_bytes(), analyzer)
    return [make_record(face, 0.0, 0, i) for i, face in enumerate(result.faces)], {"frames": 1}


def _video(path: Path, analyzer, s: BatchSettings) -> tuple[list[dict], dict]:
    result = analyze_video(path, analyzer, sample_fps=s.sample_fps, smoothing=s.smoothing,
                           limits=VideoLimits(max_duration_s=s.max_minutes * 60))
    return result.records, {"frames": result.n_analyzed, "duration_s": result.duration_s,
                            "note": " ".join(result.warnings) or None}


def analyze_file(source: str, settings: BatchSettings, on_frame: Callable[[int], None] | None = None) -> FileResult:
    """One file's records and summary row. A file that cannot be analysed gets its error in the row;
    only an engine that cannot be built (every file would fail) raises BatchError."""
    started = time.perf_counter()
    path, kind = Path(source), file_kind(source)
    row: dict = {"source": source, "kind": kind or "other", "frames": 0, "duration_s": None, "note": None,
                 "error": None}
    records: list[dict] = []
    if kind is None:
        row["error"] = (f"not a photo or video (photos: {', '.join(PHOTO_EXTENSIONS)}; "
                        f"videos: {', '.join(VIDEO_EXTENSIONS)})")
    else:
        eng = engine(settings)
        analyzer = eng.photo if kind == "photo" else eng.video
        if on_frame is not None:
            analyzer = _Counting(analyzer, on_frame)
        try:
            records, extra = _photo(path, analyzer) if kind == "photo" else _video(path, analyzer, settings)
            row.update(extra)
        except (ImageDecodeError, VideoError) as exc:
            row["error"] = str(exc)
        except OSError as exc:
            row["error"] = f"cannot read the file: {exc.strerror or exc}"
        except Exception as exc:  # a damaged file must not stop the run; its reason goes in the summary
            row["error"] = f"{type(exc).__name__}: {exc}"
    if row["error"]:
        records = []
    row.update(faces=len({r["face_id"] for r in records}), records=len(records),
               dominant_emotion=dominant_emotion(records), seconds=round(time.perf_counter() - started, 3))
    return FileResult(row, [{"source": source, **r} for r in records])


# ----------------------------------------------------------------------------- output
def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.tmp$")  # what _replace writes before renaming: .NAME.PID.tmp


def _replace(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` whole or not at all: to a temporary file beside it, synced, then renamed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _written(path: Path, write: Callable[[Path], None]) -> None:
    """``_replace``, with a full disk or an unwritable folder said in words (exit status 2), not a traceback."""
    try:
        _replace(path, write)
    except OSError as exc:
        reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror or str(exc)
        raise PathError(f"Cannot write {path}: {reason}. The files finished so far are saved; make room (or fix "
                        "the folder) and run the same command again to go on.") from None


def _under(path: object, folders: Sequence[str]) -> bool:
    return isinstance(path, str) and any(path == f or path.startswith(os.path.join(f, "")) for f in folders)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _typed(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The columns in their order and types, whatever a CSV or an empty frame made of them."""
    df = df.reindex(columns=list(columns))
    for c in columns:
        if c in _INT_COLUMNS:
            df[c] = df[c].astype("int64")
        elif c in _FLOAT_COLUMNS:
            df[c] = df[c].astype("float64")
        else:  # text; missing stays None (not the string "nan")
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df


class OutputTable:
    """The output table, its per-file summary and the part files not merged into them yet.

    Only the process running the command writes here; workers hand their results back to it."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser().resolve()
        self.format = TABLE_FORMATS.get(self.path.suffix.lower())
        if self.format is None:
            raise BatchError(f"The output table must end in .csv or .parquet: {self.path.name}")
        self.summary_path = self.path.with_name(f"{self.path.stem}.summary{self.path.suffix}")
        self.parts = self.path.with_name(f"{self.path.name}.parts")

    def _read(self, path: Path, columns: Sequence[str]) -> pd.DataFrame:
        if not path.is_file():
            return _typed(pd.DataFrame(columns=list(columns)), columns)
        try:
            df = pd.read_csv(path) if self.format == "csv" else pd.read_parquet(path)
        except Exception as exc:  # pandas and pyarrow raise many types for a damaged file
            raise BatchError(f"Cannot read the existing table {path}: {exc}. Move it away or choose another --out.") \
                from None
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise BatchError(f"{path} exists but was not written by this tool (no {', '.join(missing)} column). "
                             "Move it away or choose another --out.")
        try:
            return _typed(df, columns)
        except (ValueError, TypeError):  # e.g. an older version's CSV that a line break in a name split
            raise BatchError(f"{path} is damaged (a row does not parse). Move it away or choose another --out; "
                             "the files will be analysed again.") from None

    def _write(self, df: pd.DataFrame, path: Path) -> None:
        if self.format == "csv":  # every text quoted: a lone carriage return in a name must not end a row
            _written(path, lambda tmp: df.to_csv(tmp, index=False, quoting=csv.QUOTE_NONNUMERIC))
        else:
            _written(path, lambda tmp: df.to_parquet(tmp, index=False))

    def check(self) -> None:
        """Before any work: --out must be a file name (not a folder) in an existing folder this process can
        write, or the run would fail after the work (or after its first file)."""
        try:
            for p in (self.path, self.summary_path):
                if p.is_dir():
                    raise PathError(f"--out names a folder: {p}. Give a file name ending in .csv or .parquet.")
            if self.parts.exists() and not self.parts.is_dir():
                raise PathError(f"{self.parts} is in the way (the run keeps its finished files in that folder). "
                                "Move it away or choose another --out.")
            if not self.path.parent.is_dir():
                raise PathError(f"The folder for --out does not exist: {self.path.parent}. Create it first or "
                                "choose another --out.")
            for folder in (self.path.parent, self.parts):
                if folder.is_dir():
                    fd, probe = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".probe", dir=folder)
                    os.close(fd)
                    os.unlink(probe)
        except OSError as exc:
            raise PathError(f"Cannot write the table {_abridged(str(self.path))}: {exc.strerror or exc}. "
                            "Choose another --out.") from None

    def clean_stale(self) -> None:
        """Remove the temporary files of runs that were killed while writing (a .NAME.PID.tmp whose process
        is gone): nothing else would ever delete them."""
        names = {f".{self.path.name}.", f".{self.summary_path.name}."}
        candidates = list(self.parts.iterdir()) if self.parts.is_dir() else []
        candidates += [p for p in self.path.parent.iterdir() if any(p.name.startswith(n) for n in names)]
        for p in candidates:
            m = _TEMP_NAME.match(p.name)
            if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
                p.unlink(missing_ok=True)

    def _part_path(self, source: str) -> Path:
        return self.parts / f"{hashlib.sha1(source.encode()).hexdigest()[:24]}.json"

    def saved_parts(self) -> list[FileResult]:
        """Results saved by a run whose merge has not happened (stopped, or still going)."""
        out = []
        for p in sorted(self.parts.glob("*.json")) if self.parts.is_dir() else []:
            try:
                d = json.loads(p.read_text())
                out.append(FileResult(d["summary"], d["records"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # cannot be half-written (renamed into place); anything else is redone
        return out

    def done(self) -> set[str]:
        """Files already analysed without an error, in the summary or in a saved part."""
        summary = self._read(self.summary_path, SUMMARY_COLUMNS)
        done = set(summary.loc[summary["error"].isna(), "source"])
        done.update(r.summary["source"] for r in self.saved_parts() if not r.summary.get("error"))
        return done

    def save(self, result: FileResult) -> None:
        """Keep one file's result on disk before anything else happens: whole, synced, renamed into place."""
        try:
            self.parts.mkdir(exist_ok=True)
        except OSError as exc:
            raise PathError(f"Cannot make the folder {self.parts}: {exc.strerror or exc}.") from None
        text = json.dumps({"summary": result.summary, "records": result.records})
        _written(self._part_path(result.summary["source"]), lambda tmp: tmp.write_text(text))

    def merge(self, searched: Sequence[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Fold the saved parts into the table and the summary, each replaced whole; then drop the parts.
        Folder and link problems under the ``searched`` folders that this run did not find again are
        dropped from the summary: they were mended.

        Rows are sorted by file, frame and face, so the table does not depend on which worker
        finished first. A stop between the two writes is harmless: the parts are still there."""
        parts = self.saved_parts()
        table = self._read(self.path, TABLE_COLUMNS)
        summary = self._read(self.summary_path, SUMMARY_COLUMNS)
        mended = summary["kind"].isin(PROBLEM_KINDS) & summary["source"].map(lambda s: _under(s, searched))
        if not parts and not mended.any():  # nothing new: existing files stay as they are, and none is created
            return table, summary
        summary = summary[~mended]
        fresh = {r.summary["source"] for r in parts}
        new_rows = pd.DataFrame([rec for r in parts for rec in r.records], columns=list(TABLE_COLUMNS))
        new_summary = pd.DataFrame([r.summary for r in parts], columns=list(SUMMARY_COLUMNS))
        table = pd.concat([table[~table["source"].isin(fresh)], _typed(new_rows, TABLE_COLUMNS)])
        summary = pd.concat([summary[~summary["source"].isin(fresh)], _typed(new_summary, SUMMARY_COLUMNS)])
        table = _typed(table.sort_values(["source", "frame", "face_id"], kind="stable").reset_index(drop=True),
                       TABLE_COLUMNS)
        summary = _typed(summary.sort_values("source", kind="stable").reset_index(drop=True), SUMMARY_COLUMNS)
        self._write(table, self.path)
        self._write(summary, self.summary_path)
        for r in parts:
            self._part_path(r.summary["source"]).unlink(missing_ok=True)
        if self.parts.is_dir() and not any(self.parts.iterdir()):
            self.parts.rmdir()
        return table, summary


# ----------------------------------------------------------------------------- where the work runs
def _in_this_process(todo: Sequence[str], settings: BatchSettings, on_frame) -> Iterator[FileResult]:
    for source in todo:
        yield analyze_file(source, settings, on_frame)


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when its parent is gone (kill -9). Nothing else would: the
    worker holds the pool's queues open itself, and the resource tracker lives as long as it does."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _in_processes(todo: Sequence[str], settings: BatchSettings, workers: int) -> Iterator[FileResult]:
    """``workers`` fresh processes (spawned: no threads or locks inherited from this one)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))
    try:
        futures = [pool.submit(analyze_file, source, settings) for source in todo]
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except BrokenProcessPool:
                raise BatchError("A worker process died (out of memory, or a crash while decoding a file). "
                                 "The files finished so far are saved; run the same command again to go on.") \
                    from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _on_dask(todo: Sequence[str], settings: BatchSettings, address: str) -> Iterator[FileResult]:
    """The same per-file work on a Dask cluster: its workers import fer_core and read the same paths."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise BatchError("--dask needs Dask's distributed scheduler: pip install 'dask[distributed]'.") from None
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise BatchError(f"Cannot reach the Dask scheduler at {address}: {exc}. Start one with `dask scheduler` "
                         "and point --dask at the address it prints.") from None
    try:
        if not client.scheduler_info().get("workers"):
            print(f"The Dask scheduler at {address} has no workers yet; waiting for some to connect.",
                  file=sys.stderr)
        futures = client.map(analyze_file, list(todo), settings=settings, pure=False)
        for fut in as_completed(futures):
            yield fut.result()
    except BatchError:
        raise
    except Exception as exc:  # the cluster's own failures: say what a cluster needs, not a traceback
        reason = (str(exc).splitlines() or [""])[0]
        raise BatchError(f"The Dask cluster at {address} could not run the work ({type(exc).__name__}: {reason}). "
                         "Its scheduler and workers need this project importable (start them with PYTHONPATH set to "
                         "the repository folder) and the same package versions as this machine.") from None
    finally:
        client.close()


def shown(text: object) -> str:
    """Text for the terminal: every character that is not printable (a newline that would forge a line,
    an escape sequence that would set the title, a bidi override, an undecodable byte) as its escape."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def _problem(path: str, kind: str, reason: str) -> FileResult:
    """The summary row for a folder or link a search could not follow."""
    return FileResult({"source": path, "kind": kind, "frames": 0, "faces": 0, "records": 0, "dominant_emotion": None,
                       "duration_s": None, "seconds": 0.0, "note": None, "error": reason})


class _Progress:
    """Two bars on stderr: files finished, and frames analysed (live within a file in this process)."""

    def __init__(self, n_files: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.files = tqdm(total=n_files, unit="file", desc="files", position=0, disable=not enabled)
        self.frames = tqdm(unit="frame", desc="frames", position=1, disable=not enabled)
        self._live = 0

    def frame(self, n: int) -> None:
        self._live += n
        self.frames.update(n)

    def file_done(self, result: FileResult) -> None:
        self.frames.update(max(0, int(result.summary["frames"]) - self._live))
        self._live = 0
        self.files.update(1)
        if result.summary["error"]:
            self.files.write(f"skipped {shown(result.summary['source'])}: {shown(result.summary['error'])}",
                             file=sys.stderr)

    def close(self) -> None:
        self.frames.close()
        self.files.close()


@dataclass
class BatchReport:
    """What a run did: the merged tables, and how many files it found, skipped and analysed."""

    table: pd.DataFrame
    summary: pd.DataFrame
    found: int
    already_done: int
    analysed: int
    failed: list[str]
    unmatched: list[str]
    problems: list[str] = field(default_factory=list)  # folders and links the searches could not follow


def run_batch(inputs: Sequence[str | os.PathLike], out: str | os.PathLike, settings: BatchSettings | None = None,
              workers: int = 1, dask_address: str | None = None, progress: bool = True) -> BatchReport:
    """Analyse every file the inputs name that ``out`` does not have yet, and merge the results into it."""
    table = OutputTable(out)
    table.check()
    found = find_inputs(inputs)
    files = found.files
    for item in found.unmatched:
        print(f"No photo or video found at {shown(item)}", file=sys.stderr)
    for path, (_, reason) in found.problems.items():
        print(f"skipped {shown(path)}: {shown(reason)}", file=sys.stderr)
    if not files:
        raise BatchError("No photo or video found in the inputs "
                         f"(photos: {', '.join(PHOTO_EXTENSIONS)}; videos: {', '.join(VIDEO_EXTENSIONS)}).")
    table.clean_stale()
    done = table.done()
    todo = [str(f) for f in files if str(f) not in done]
    if workers < 1:
        raise BatchError("--workers must be 1 or more.")
    if settings is None:
        settings = BatchSettings()
    if dask_address:
        settings = BatchSettings(**{**asdict(settings), "threads": 1})  # a Dask worker runs one file per thread
    elif workers > 1:
        settings = BatchSettings(**{**asdict(settings), "threads": max(1, (os.cpu_count() or 1) // workers)})
    if progress:
        print(f"{len(files)} files: {len(files) - len(todo)} already in {shown(table.path.name)}, {len(todo)} to "
              "analyse", file=sys.stderr)
    bars = _Progress(len(todo), progress)
    failed: list[str] = []
    try:
        for path, (kind, reason) in found.problems.items():
            table.save(_problem(path, kind, reason))
        if dask_address:
            results = _on_dask(todo, settings, dask_address)
        elif workers > 1 and len(todo) > 1:
            results = _in_processes(todo, settings, workers)
        else:
            results = _in_this_process(todo, settings, bars.frame)
        for result in results:
            table.save(result)
            bars.file_done(result)
            if result.summary["error"]:
                failed.append(result.summary["source"])
    finally:
        bars.close()
        merged, summary = table.merge(found.searched)
    return BatchReport(merged, summary, len(files), len(files) - len(todo), len(todo), failed, found.unmatched,
                       list(found.problems))


# ----------------------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m fer_core.analysis.batch", description=__doc__.split("\n")[0],
        epilog="The per-file summary is written beside TABLE as NAME.summary.csv or NAME.summary.parquet. "
               "Run the same command again to continue an interrupted run.")
    ap.add_argument("inputs", nargs="+", metavar="INPUT",
                    help="photo or video files, folders (searched recursively) or quoted glob patterns ('clips/*.mp4')")
    ap.add_argument("--out", required=True, metavar="TABLE", help="output table: a .csv or .parquet file")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1, metavar="N", help="processes on this machine (default 1)")
    where.add_argument("--dask", metavar="ADDRESS",
                       help="send the work to a Dask scheduler, e.g. tcp://10.0.0.5:8786 (workers must see the same paths)")
    ap.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR, help="face detector (default %(default)s)")
    ap.add_argument("--sample-fps", type=float, default=DEFAULT_SAMPLE_FPS, metavar="FPS",
                    help="video frames analysed per second (default %(default)g; 0 = every frame)")
    ap.add_argument("--no-smoothing", action="store_true",
                    help="raw per-frame probabilities in videos (default: smoothed over time, as on the Video page)")
    ap.add_argument("--no-mirror", action="store_true",
                    help="classify each face once (default: averaged with its mirror image, as the pages do)")
    ap.add_argument("--max-minutes", type=float, default=BATCH_MAX_MINUTES, metavar="MIN",
                    help="skip videos longer than this (default %(default)g)")
    ap.add_argument("--model-dir", default=None, help="model folder (default: FER_MODEL_DIR or models/)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    if args.workers < 1:
        ap.error("--workers must be 1 or more")
    if args.sample_fps < 0 or args.max_minutes <= 0:
        ap.error("--sample-fps must be 0 or more and --max-minutes more than 0")
    settings = BatchSettings(detector=args.detector, sample_fps=args.sample_fps or None, mirror=not args.no_mirror,
                             smoothing="none" if args.no_smoothing else "ema", max_minutes=args.max_minutes,
                             model_dir=str(Path(args.model_dir).resolve()) if args.model_dir else None)
    try:
        report = run_batch(args.inputs, args.out, settings, args.workers, args.dask, progress=not args.quiet)
    except BatchError as exc:
        print(f"error: {shown(exc)}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("Interrupted. The files finished so far are saved; run the same command again to go on.",
              file=sys.stderr)
        return 130
    table = OutputTable(args.out)
    problems = f"; {len(report.problems)} folders or links could not be followed" if report.problems else ""
    print(f"Analysed {report.analysed} files ({report.already_done} were already done, {len(report.failed)} "
          f"could not be analysed{problems}): {len(report.table)} face records in {shown(table.path)}, "
          f"one row per file in {shown(table.summary_path)}")
    return 0


if __name__ == "__main__":
    # Run as the importable module, not as __main__: workers (processes, Dask) then find
    # analyze_file by its real name, and there is one engine cache per process.
    from fer_core.analysis.batch import main as _main

    raise SystemExit(_main())
