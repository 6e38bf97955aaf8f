"""ICE configuration: nobody is contacted by default; bad settings give a clear error."""

from __future__ import annotations

import pytest

from fer_core.app.rtc_config import ENV_VAR, IceConfigError, parse_ice_servers, rtc_configuration


def test_default_is_no_ice_servers() -> None:
    assert rtc_configuration(env={}, secrets=None) == {"iceServers": []}
    assert rtc_configuration(env={ENV_VAR: "  "}, secrets={}) == {"iceServers": []}


def test_env_json_list_is_used_and_wins_over_secrets() -> None:
    env = {ENV_VAR: '[{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]'}
    cfg = rtc_configuration(env=env, secrets={"ice_servers": ["stun:other.example.org"]})
    assert cfg == {"iceServers": [{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]}


def test_secrets_are_used_when_env_is_unset_and_plain_urls_are_accepted() -> None:
    cfg = rtc_configuration(env={}, secrets={"ice_servers": ["stun:stun.example.org:3478"]})
    assert cfg == {"iceServers": [{"urls": "stun:stun.example.org:3478"}]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[{", "not valid JSON"),
        ("42", "must be a list"),
        ('[{"username": "x"}]', "lacks 'urls'"),
        ('["http://example.org"]', "is not a stun:"),
        ("[7]", "URL string or an object"),
    ],
)
def test_bad_values_raise_a_user_facing_error(value: str, message: str) -> None:
    with pytest.raises(IceConfigError, match=message):
        parse_ice_servers(value)
