"""fer_core.core.environ: one way to read a setting from the environment."""

from fer_core.core.environ import env_text


def test_env_text_strips_and_treats_blank_as_unset(monkeypatch):
    assert env_text("FER_X", {"FER_X": "  48 \n"}) == "48"
    assert env_text("FER_X", {"FER_X": "   "}) == "" and env_text("FER_X", {}) == ""
    monkeypatch.setenv("FER_X", " read at the call ")
    assert env_text("FER_X") == "read at the call"
