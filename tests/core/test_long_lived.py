import gc

from fer_core.core import long_lived


def test_freeze_once_moves_live_objects_out_of_collections_once(monkeypatch):
    monkeypatch.setattr(long_lived, "_frozen", set())
    before = gc.get_freeze_count()
    keep = [[] for _ in range(10)]  # lists are tracked by the collector
    assert long_lived.freeze_once("test") is True
    assert gc.get_freeze_count() >= before + len(keep)
    assert long_lived.freeze_once("test") is False  # only the first call for a name freezes
    gc.unfreeze()
