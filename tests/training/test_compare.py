from __future__ import annotations

import numpy as np
import pytest

from fer_core.training.compare import mcnemar_p, paired


def test_mcnemar_exact():
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(5, 5) == pytest.approx(1.0)
    assert mcnemar_p(20, 2) < 0.001
    assert mcnemar_p(20, 2) == pytest.approx(mcnemar_p(2, 20))


def test_paired_counts_discordant_faces():
    a = np.array([1, 1, 0, 0, 1], bool)
    b = np.array([1, 0, 1, 0, 0], bool)
    r = paired(a, b)
    assert (r["only_candidate"], r["only_baseline"], r["n"]) == (2, 1, 5)
    assert r["accuracy_candidate"] == 0.6 and r["accuracy_baseline"] == 0.4
