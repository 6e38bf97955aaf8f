"""ICE servers for the live page's WebRTC connection.

By default the list is empty, so neither the browser nor the server contacts any third-party
STUN/TURN service (streamlit-webrtc would otherwise use Google's STUN server and may ask TURN
credential services). That is enough on localhost and on a LAN; a remote deployment behind NAT
names its own servers in FER_ICE_SERVERS or in `.streamlit/secrets.toml` (`ice_servers`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fer_core.core.environ import env_text

ENV_VAR = "FER_ICE_SERVERS"
SECRETS_KEY = "ice_servers"


class IceConfigError(ValueError):
    """The configured ICE servers cannot be used; str() is user-facing."""


def _server(entry: Any, where: str) -> dict:
    if isinstance(entry, str):
        entry = {"urls": entry}
    if not isinstance(entry, Mapping):
        raise IceConfigError(f"{where}: each ICE server must be a URL string or an object with 'urls'.")
    urls = entry.get("urls")
    url_list = [urls] if isinstance(urls, str) else urls
    if not url_list or not isinstance(url_list, list) or not all(isinstance(u, str) for u in url_list):
        raise IceConfigError(f"{where}: an ICE server lacks 'urls' (a string or a list of strings).")
    bad = [u for u in url_list if u.split(":", 1)[0] not in ("stun", "stuns", "turn", "turns")]
    if bad:
        raise IceConfigError(f"{where}: {bad[0]!r} is not a stun:, stuns:, turn: or turns: URL.")
    out: dict = {"urls": urls}
    for key in ("username", "credential"):
        if key in entry:
            out[key] = str(entry[key])
    return out


def parse_ice_servers(value: Any, where: str = ENV_VAR) -> list[dict]:
    """A JSON string or a list (of URL strings or RTCIceServer objects) -> RTCIceServer dicts."""
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise IceConfigError(f"{where} is not valid JSON ({exc.msg}); expected a list such as "
                                 '[{"urls": "stun:stun.example.org:3478"}].') from None
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise IceConfigError(f"{where} must be a list of ICE servers.")
    return [_server(e, where) for e in value]


def rtc_configuration(env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> dict:
    """The RTCConfiguration for streamlit-webrtc: env var first, then secrets, else no servers."""
    text = env_text(ENV_VAR, env)
    if text:
        return {"iceServers": parse_ice_servers(text, ENV_VAR)}
    if secrets is not None and SECRETS_KEY in secrets:
        return {"iceServers": parse_ice_servers(secrets[SECRETS_KEY], f"secrets.toml {SECRETS_KEY}")}
    return {"iceServers": []}
