"""fer_core.app.access: where the shared token comes from, unusable settings, and the comparison."""

from __future__ import annotations

import pytest

from fer_core.app.access import AccessConfigError, configured_token, fingerprint, token_matches

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


def test_wrong_tokens_back_off_per_address_and_for_the_server(caplog):
    from fer_core.app.access import Throttle

    now = [0.0]
    t = Throttle(free=2, base_s=2.0, max_s=60.0, server_per_min=10, clock=lambda: now[0])
    assert t.failed("a") == 0 and t.failed("a") == 0  # a few typos cost nothing
    assert t.failed("a") == 2.0 and t.failed("a") == 4.0 and t.wait_s("a") == 4.0
    assert t.wait_s("b") == 0  # another address is not slowed by a's guesses ...
    for _ in range(6):
        t.failed(f"c{_}")
    assert t.wait_s("b") > 0  # ... until everyone together passes the server's limit
    now[0] += 61
    assert t.wait_s("b") == 0 and t.wait_s("a") == 0
    t.succeeded("a")
    assert t.failed("a") == 0
    assert "wrong access token from a" in caplog.text and TOKEN not in caplog.text


def test_a_grant_is_tied_to_the_browser_cookie():
    from fer_core.app.access import browser_binding

    assert browser_binding(TOKEN, None) is None
    assert browser_binding(TOKEN, "cookie-1") == browser_binding(TOKEN, "cookie-1") != browser_binding(TOKEN, "cookie-2")
    assert browser_binding(TOKEN, "cookie-1") != browser_binding(TOKEN + "x", "cookie-1")
