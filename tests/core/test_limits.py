"""Upload limits: defaults, every FER_MAX_* override, and a clear message for a bad value."""

from __future__ import annotations

from dataclasses import fields

import pytest

from fer_core.core.limits import ENV_VARS, Limits, LimitsConfigError, load_limits


def test_defaults_without_environment():
    assert load_limits({}) == Limits()
    assert Limits().upload_files == 10 and Limits().faces_per_image == 32 and Limits().video_side == 4096


def test_every_limit_has_its_own_variable():
    assert set(ENV_VARS) == {f.name for f in fields(Limits)}
    assert len(set(ENV_VARS.values())) == len(ENV_VARS)
    env = {var: "7" for var in ENV_VARS.values()}
    limits = load_limits(env)
    assert all(getattr(limits, name) == 7 for name in ENV_VARS)
    assert isinstance(limits.upload_files, int) and isinstance(limits.video_seconds, float)


def test_underscores_and_exponents_are_accepted():
    assert load_limits({"FER_MAX_UPLOAD_PIXELS": "20_000_000", "FER_MAX_VIDEO_DECODE_WORK": "1e9"}) == \
        Limits(upload_pixels=20_000_000, video_decode_work=1_000_000_000)


@pytest.mark.parametrize("text", ["0", "-3", "lots", "nan", "inf"])
def test_bad_value_names_the_variable(text):
    with pytest.raises(LimitsConfigError, match=f"FER_MAX_UPLOAD_FILES must be a positive number, not '{text}'"):
        load_limits({"FER_MAX_UPLOAD_FILES": text})


def test_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("FER_MAX_FACES", "5")
    assert load_limits().faces_per_image == 5


def test_video_limits_for_the_engine():
    v = Limits(video_seconds=60, video_side=640, video_frames=100, video_decode_work=10**9).video()
    assert (v.max_duration_s, v.max_side, v.max_frames, v.max_decode_work) == (60, 640, 100, 10**9)


def test_the_readme_names_every_limit(repo_root):
    readme = (repo_root / "README.md").read_text()
    assert [v for v in ENV_VARS.values() if f"`{v}`" not in readme] == []
