"""LiteRT interpreters for every TFLite model the app serves (the emotion classifier, BlazeFace),
and the latency figures measured on them.

One home for the interpreter class (LiteRT's; TensorFlow's, through tf_import, only when LiteRT is
missing), its thread count and the start-up line it writes to stderr. No TensorFlow import here
otherwise: the live page runs next to aiortc, and TensorFlow before pylibsrtp segfaults.

One thread per interpreter by default: the models are small (a 64 px classifier, a 128 px
detector), and several live sessions share two cores, each with interpreters of its own. A second
XNNPACK thread spins while it waits for work: measured on this 2-core machine under load, batch-1
classification cost 6.2 CPU ms with two threads against 1.3 ms with one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

DEFAULT_THREADS = 1


def interpreter_class():
    """LiteRT's Interpreter, else TensorFlow's (through tf_import so the import order stays safe)."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        from fer_core.core.tf_import import tensorflow

        return tensorflow().lite.Interpreter


def make_interpreter(*, model_path: str | None = None, model_content: bytes | None = None,
                     threads: int = DEFAULT_THREADS):
    """An interpreter with its tensors allocated, made without LiteRT's "Created TensorFlow Lite
    XNNPACK delegate" line on stderr (it appears once per interpreter, i.e. per live session)."""
    from fer_core.core.tf_import import quiet_native_logs

    with quiet_native_logs():
        interp = interpreter_class()(model_path=model_path, model_content=model_content, num_threads=threads)
        interp.allocate_tensors()
    return interp


def latency_ms(model, x1: np.ndarray, repeats: int = 50) -> tuple[float, float]:
    """p50/p90 ms of one batch-1 inference of a preprocessed face (after a short warm-up);
    ``model`` is anything with ``predict_preprocessed`` (a Classifier)."""
    return interleaved_latency_ms([model], x1, rounds=1, repeats=repeats)[0]


def interleaved_latency_ms(models: Sequence, x1: np.ndarray, rounds: int = 10, repeats: int = 10,
                           clock=time.perf_counter) -> list[tuple[float, float]]:
    """p50/p90 ms of each model at batch 1, timed in alternating rounds.

    Timed one after another, a burst of load from elsewhere on the machine lands on one model and
    decides which looks faster; alternating rounds (forward, then backward) spread it over all.
    """
    for model in models:
        for _ in range(5):
            model.predict_preprocessed(x1)
    times: list[list[float]] = [[] for _ in models]
    for r in range(rounds):
        order = range(len(models)) if r % 2 == 0 else reversed(range(len(models)))
        for i in order:
            for _ in range(repeats):
                t = clock()
                models[i].predict_preprocessed(x1)
                times[i].append((clock() - t) * 1e3)
    return [(float(np.percentile(t, 50)), float(np.percentile(t, 90))) for t in times]
