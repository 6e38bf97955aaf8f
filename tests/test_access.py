"""fer_core.access: where the shared token comes from, unusable settings, and the comparison."""

from __future__ import annotations

import pytest

from fer_core.access import AccessConfigError, configured_token, fingerprint, token_matches

TOKEN = "correct-horse-battery"


def test_off_unless_a_token_is_set():
    assert configured_token(env={}, secrets=None) is None
    assert configured_token(env={"FER_ACCESS_TOKEN": "   "}, secrets={}) is None
    assert configured_token(env={}, secrets={"ice_servers": []}) is None


def test_env_wins_over_secrets_and_whitespace_is_trimmed():
    assert configured_token(env={"FER_ACCESS_TOKEN": f" {TOKEN}\n"}, secrets={"access_token": "other-token-1"}) == TOKEN
    assert configured_token(env={}, secrets={"access_token": TOKEN}) == TOKEN


@pytest.mark.parametrize("env, secrets, message", [
    ({"FER_ACCESS_TOKEN": "abc"}, None, "FER_ACCESS_TOKEN is too short"),
    ({}, {"access_token": 12345678}, "secrets.toml access_token must be a string"),
])
def test_unusable_token_settings_are_refused_without_quoting_them(env, secrets, message):
    with pytest.raises(AccessConfigError, match=message) as err:
        configured_token(env=env, secrets=secrets)
    assert "abc" not in str(err.value) and "12345678" not in str(err.value)


def test_comparison():
    assert token_matches(TOKEN, TOKEN) and token_matches(f" {TOKEN} ", TOKEN)
    for wrong in ("", None, TOKEN[:-1], TOKEN + "x", TOKEN.upper()):
        assert not token_matches(wrong, TOKEN)


def test_sessions_remember_a_fingerprint_not_the_token():
    assert TOKEN not in fingerprint(TOKEN)
    assert fingerprint(TOKEN) == fingerprint(TOKEN) != fingerprint(TOKEN + "2")
