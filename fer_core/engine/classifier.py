"""Emotion classifier over face crops: the shipped TFLite model (LiteRT) or a Keras model.

The TFLite path never imports TensorFlow (interpreters come from fer_core.engine.litert).
Interpreters are not thread-safe, so each call borrows one from a pool that never makes a caller
wait: when every interpreter is busy (another live session is classifying), a new one is made, so
the pool grows to the number of callers at once (about 8 MB each) and no session waits on another.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fer_core.core.calibration import Calibration, folder_calibration
from fer_core.core.labels import CLASSES
from fer_core.core.model_folder import ModelFilesError, default_model_dir, load_model_config, served_model_path
from fer_core.core.preprocess import preprocess_faces
from fer_core.engine.litert import DEFAULT_THREADS, make_interpreter

# Batches are padded up to these sizes so the interpreter re-plans its memory rarely.
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32)


def _bucket(n: int) -> int:
    for b in _BATCH_BUCKETS:
        if n <= b:
            return b
    return _BATCH_BUCKETS[-1]


def _softmax_if_needed(p: np.ndarray) -> np.ndarray:
    """Make rows proper distributions (quantised outputs drift; a logits head needs softmax)."""
    p = p.astype(np.float32)
    if p.size == 0:
        return p
    if np.all(p >= -1e-3) and np.allclose(p.sum(axis=1), 1.0, atol=0.05):
        p = np.clip(p, 0.0, None)
        return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    e = np.exp(p - p.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class _TFLiteRunner:
    """One interpreter with its current batch size; used by one thread at a time."""

    def __init__(self, model_content: bytes, threads: int) -> None:
        self.interp = make_interpreter(model_content=model_content, threads=threads)
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        self.batch = int(self.inp["shape"][0])
        self.resizable = True

    def _resize(self, n: int) -> bool:
        if n == self.batch:
            return True
        if not self.resizable:
            return False
        shape = list(self.inp["shape"])
        shape[0] = n
        try:
            self.interp.resize_tensor_input(self.inp["index"], shape, strict=False)
            self.interp.allocate_tensors()
        except (ValueError, RuntimeError):
            self.resizable = False
            shape[0] = self.batch
            self.interp.resize_tensor_input(self.inp["index"], shape, strict=False)
            self.interp.allocate_tensors()
            return False
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        self.batch = n
        return True

    def _quantise(self, x: np.ndarray) -> np.ndarray:
        dtype = self.inp["dtype"]
        if dtype in (np.int8, np.uint8):
            scale, zero = self.inp["quantization"]
            info = np.iinfo(dtype)
            q = np.round(x / (scale or 1.0) + zero)
            return np.clip(q, info.min, info.max).astype(dtype)
        return x.astype(dtype)

    def _dequantise(self, y: np.ndarray) -> np.ndarray:
        if self.out["dtype"] in (np.int8, np.uint8):
            scale, zero = self.out["quantization"]
            return (y.astype(np.float32) - zero) * (scale or 1.0)
        return y.astype(np.float32)

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        self.interp.set_tensor(self.inp["index"], self._quantise(x))
        self.interp.invoke()
        return self._dequantise(self.interp.get_tensor(self.out["index"]))

    def run(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        outs = []
        start = 0
        while start < n:
            chunk = x[start:start + _BATCH_BUCKETS[-1]]
            m = chunk.shape[0]
            b = _bucket(m)
            if self._resize(b):
                if b > m:
                    chunk = np.concatenate([chunk, np.zeros((b - m, *chunk.shape[1:]), chunk.dtype)])
                outs.append(self._invoke(chunk)[:m])
            else:  # fixed-batch model: one face at a time
                outs.extend(self._invoke(chunk[i:i + 1])[:1] for i in range(m))
            start += m
        return np.concatenate(outs, axis=0)


class Classifier:
    """Face crops -> (N, len(classes)) probabilities; safe to share between threads."""

    def __init__(self, path: Path, input_size: int, classes: Sequence[str], backend: str,
                 runner_factory=None, keras_model=None, threads: int = DEFAULT_THREADS,
                 calibration: Calibration | None = None) -> None:
        self.path = Path(path)
        self.calibration = calibration or Calibration()  # the model config's, applied to every output
        self.input_size = int(input_size)
        self.classes: tuple[str, ...] = tuple(classes)
        self.backend = backend  # "tflite" or "keras"
        self.threads = threads
        self._factory = runner_factory
        self._keras_model = keras_model
        self._pool: queue.LifoQueue = queue.LifoQueue()  # idle interpreters, the last used first
        self._created = 0  # interpreters made: the most callers at once
        self._count_lock = threading.Lock()
        self._keras_lock = threading.Lock()

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_dir(cls, model_dir: str | Path | None = None, **kw) -> Classifier:
        """The served model named in the model config (default dir: $FER_MODEL_DIR or models/),
        with the config's calibration."""
        model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        cfg = load_model_config(model_dir)
        return cls.from_path(served_model_path(model_dir), input_size=cfg["input_size"], classes=cfg["classes"],
                             calibration=folder_calibration(model_dir), **kw)

    @classmethod
    def from_path(cls, path: str | Path, input_size: int | None = None,
                  classes: Sequence[str] | None = None, threads: int = DEFAULT_THREADS,
                  calibration: Calibration | None = None) -> Classifier:
        """Load a ``.tflite`` (LiteRT) or ``.keras`` model file (raw outputs unless ``calibration``)."""
        path = Path(path)
        if not path.is_file():
            raise ModelFilesError(f"Model file not found: {path}. Put the trained model there or set FER_MODEL_DIR.")
        classes = tuple(classes) if classes else CLASSES
        suffix = path.suffix.lower()
        if suffix == ".tflite":
            content = path.read_bytes()
            try:
                probe = _TFLiteRunner(content, threads)
            except (ValueError, RuntimeError) as exc:
                raise ModelFilesError(f"The TFLite model {path.name} could not be loaded (corrupt or "
                                      f"incompatible file): {exc}") from exc
            shape = probe.inp["shape"]
            size = cls._check_shapes(path, tuple(int(s) for s in shape), input_size,
                                     int(probe.out["shape"][-1]), classes)
            clf = cls(path, size, classes, "tflite",
                      runner_factory=lambda: _TFLiteRunner(content, threads),
                      threads=threads, calibration=calibration)
            clf._pool.put(probe)
            clf._created = 1
            return clf
        if suffix in (".keras", ".h5"):
            from fer_core.core.tf_import import keras as _keras

            keras = _keras()
            try:
                model = keras.models.load_model(str(path), compile=False)
            except Exception as exc:  # Keras raises many types for a bad archive
                raise ModelFilesError(f"The Keras model {path.name} could not be loaded (corrupt or "
                                      f"incompatible file): {exc}") from exc
            in_shape = tuple(int(s) if s is not None else -1 for s in model.input_shape)
            out_n = int(model.output_shape[-1])
            size = cls._check_shapes(path, in_shape, input_size, out_n, classes)
            return cls(path, size, classes, "keras", keras_model=model, threads=threads, calibration=calibration)
        raise ModelFilesError(f"Unsupported model file {path.name}: expected .tflite or .keras.")

    @staticmethod
    def _check_shapes(path: Path, in_shape: tuple[int, ...], input_size: int | None,
                      n_out: int, classes: tuple[str, ...]) -> int:
        if len(in_shape) != 4 or in_shape[-1] != 3:
            raise ModelFilesError(f"{path.name} expects input {in_shape}; an (N, S, S, 3) face model was expected.")
        size = in_shape[1] if in_shape[1] > 0 else int(input_size or 0)
        if size <= 0:
            raise ModelFilesError(f"{path.name} has no fixed input size; pass input_size.")
        if input_size and int(input_size) != size:
            raise ModelFilesError(f"{path.name} takes {size}x{size} inputs but the config says {input_size}.")
        if n_out != len(classes):
            raise ModelFilesError(f"{path.name} outputs {n_out} classes but {len(classes)} class names were given.")
        return size

    # ---------------------------------------------------------------- inference
    def _borrow(self) -> _TFLiteRunner:
        """An idle interpreter, or a new one when all are busy: callers never wait on each other."""
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            with self._count_lock:
                self._created += 1
            return self._factory()

    def predict_preprocessed(self, x: np.ndarray, mirror: bool = False) -> np.ndarray:
        """Probabilities for an already preprocessed (N, S, S, 3) float32 batch.

        ``mirror`` averages each face's probabilities with those of its left-right mirror image
        (one batch of 2N): a face and its mirror show the same emotion, and the average is
        right more often (model card), at twice the compute, so stills use it and live video does not.
        The calibration is applied last, to the average.
        """
        return self.calibration.apply(self._probs(x, mirror))

    def _probs(self, x: np.ndarray, mirror: bool) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(f"Expected a (N, {self.input_size}, {self.input_size}, 3) batch, got {x.shape}.")
        if x.shape[0] == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        if mirror:
            n = x.shape[0]
            both = self._probs(np.concatenate([x, x[:, :, ::-1]]), False)
            return (both[:n] + both[n:]) / 2
        if self.backend == "keras":
            with self._keras_lock:
                # predict_on_batch runs Keras' compiled predict function: twice as fast as eager calls.
                y = np.asarray(self._keras_model.predict_on_batch(x))
            return _softmax_if_needed(y)
        runner = self._borrow()
        try:
            y = runner.run(x)
        finally:
            self._pool.put(runner)
        return _softmax_if_needed(y)

    def predict(self, crops: Sequence[np.ndarray], mirror: bool = False) -> np.ndarray:
        """Probabilities for RGB or gray face crops of any size, with the training preprocessing."""
        return self.predict_preprocessed(preprocess_faces(list(crops), self.input_size), mirror)

    def __repr__(self) -> str:
        return f"Classifier({self.path.name}, {self.backend}, {self.input_size}px, {len(self.classes)} classes)"

