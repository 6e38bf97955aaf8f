"""fer_core.training.torch_weights: PyTorch state dicts read without PyTorch, in both of torch's file formats.

The files are written here the way torch.save writes them (a fake ``torch`` module stands in for
the classes the pickle names), so the reader is checked against known arrays, not against itself.
"""

from __future__ import annotations

import io
import pickle
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from fer_core.training.torch_weights import read_state_dict


class _Storage:
    def __init__(self, key: str, data: np.ndarray):
        self.key, self.data = key, data


@pytest.fixture
def fake_torch(monkeypatch):
    """Just enough of ``torch`` for pickle to name torch.FloatStorage and torch._utils._rebuild_tensor_v2."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    FloatStorage.__module__, _rebuild_tensor_v2.__module__ = "torch", "torch._utils"
    FloatStorage.__qualname__, _rebuild_tensor_v2.__qualname__ = "FloatStorage", "_rebuild_tensor_v2"
    torch.FloatStorage, torch._utils, utils._rebuild_tensor_v2 = FloatStorage, utils, _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _Tensor:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.args = (storage, offset, size, stride, False, OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", sys.modules["torch"].FloatStorage, obj.key, "cpu", obj.data.size)
        return None


def _state(weight: np.ndarray, bias: np.ndarray) -> tuple[OrderedDict, list[_Storage]]:
    """A conv weight (C-contiguous) and a bias that is a strided view into a shared storage."""
    s0 = _Storage("0", weight.ravel().astype(np.float32))
    s1 = _Storage("1", np.concatenate([[9.0], bias, [9.0]]).astype(np.float32))
    strides = tuple(int(np.prod(weight.shape[i + 1:])) for i in range(weight.ndim))
    state = OrderedDict([("conv.weight", _Tensor(s0, 0, weight.shape, strides)),
                         ("bn.bias", _Tensor(s1, 1, bias.shape, (1,)))])
    return state, [s0, s1]


def _legacy_bytes(state, storages) -> bytes:
    f = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(header, f, protocol=2)
    _Pickler(f, protocol=2).dump(state)
    pickle.dump([s.key for s in storages], f, protocol=2)
    for s in storages:
        f.write(np.int64(s.data.size).tobytes() + s.data.tobytes())
    return f.getvalue()


def _zip_bytes(state, storages) -> bytes:
    f, pkl = io.BytesIO(), io.BytesIO()
    _Pickler(pkl, protocol=2).dump(state)
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("archive/data.pkl", pkl.getvalue())
        for s in storages:
            z.writestr(f"archive/data/{s.key}", s.data.tobytes())
    return f.getvalue()


@pytest.mark.parametrize("write", [_legacy_bytes, _zip_bytes], ids=["legacy", "zip"])
def test_tensors_come_back_with_their_shapes_offsets_and_values(fake_torch, tmp_path, write):
    weight = np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3) / 7
    bias = np.array([1.5, -2.0], np.float32)
    path = tmp_path / "state.pth"
    path.write_bytes(write(*_state(weight, bias)))
    sd = read_state_dict(path)
    assert list(sd) == ["conv.weight", "bn.bias"]
    np.testing.assert_array_equal(sd["conv.weight"], weight)
    np.testing.assert_array_equal(sd["bn.bias"], bias)  # offset 1 into its storage, not the padding


def test_a_pickle_naming_other_classes_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"x": print}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="unexpected class"):
        read_state_dict(path)
