"""LiteRT helpers: interpreters made quietly with the thread count asked for, and latency timing
that does not blame one model for the machine's load."""

from __future__ import annotations

import numpy as np
import pytest
from engine_models import SIZE, tiny_models

from fer_core.engine.litert import interleaved_latency_ms, make_interpreter


@pytest.mark.slow
def test_interpreter_is_ready_to_run_with_tensors_allocated(capfd):
    interp = make_interpreter(model_content=tiny_models()["float"].read_bytes())
    inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], np.zeros(inp["shape"], np.float32))
    interp.invoke()
    probs = interp.get_tensor(interp.get_output_details()[0]["index"])
    assert probs.shape[-1] == 7
    assert "XNNPACK delegate" not in capfd.readouterr().err  # LiteRT's start-up line is held back


class _LoadedMachine:
    """A fake clock and models: every inference costs 1 ms, plus 4 ms while the machine is busy
    (the first half of all timed calls), so timing one model after the other blames only the first."""

    WARMUP = 5  # untimed calls per model before timing starts

    def __init__(self, n_models: int, timed_calls: int):
        self.now, self.calls = 0.0, 0
        self.busy = range(self.WARMUP * n_models + 1, self.WARMUP * n_models + timed_calls // 2 + 1)

    def clock(self) -> float:
        return self.now

    def model(self):
        machine = self

        class _Model:
            def predict_preprocessed(self, x):
                machine.calls += 1
                machine.now += 1e-3 + (4e-3 if machine.calls in machine.busy else 0.0)

        return _Model()


def test_interleaved_timing_spreads_machine_load_over_all_models():
    x1 = np.zeros((1, SIZE, SIZE, 3), np.float32)
    sequential = _LoadedMachine(n_models=2, timed_calls=2 * 40)
    a, b = sequential.model(), sequential.model()
    (a50, _), (b50, _) = interleaved_latency_ms([a, b], x1, rounds=1, repeats=40, clock=sequential.clock)
    assert a50 == pytest.approx(5.0) and b50 == pytest.approx(1.0)  # same models, one looks 5x slower
    interleaved = _LoadedMachine(n_models=2, timed_calls=2 * 40)
    a, b = interleaved.model(), interleaved.model()
    (a50, a90), (b50, b90) = interleaved_latency_ms([a, b], x1, rounds=4, repeats=10, clock=interleaved.clock)
    assert a50 == pytest.approx(b50) and a90 == pytest.approx(b90)
