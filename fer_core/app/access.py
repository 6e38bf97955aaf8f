"""The dashboard's optional shared access token: off unless FER_ACCESS_TOKEN or secrets.toml sets one.

On loopback (the default ``server.address``) only the machine's own users reach the app. Anyone who
can reach an exposed server could open, export and delete every saved session, so an exposed
server names a token here and every page asks for it once per browser session.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fer_core.core.environ import env_text

ENV_VAR = "FER_ACCESS_TOKEN"
SECRETS_KEY = "access_token"
MIN_LENGTH = 8


class AccessConfigError(ValueError):
    """The configured token cannot be used; str() is user-facing (never quotes the token)."""


def configured_token(env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> str | None:
    """The shared token (env var first, then secrets.toml), or None when access is open."""
    raw, where = env_text(ENV_VAR, env), ENV_VAR
    if not raw and secrets is not None and SECRETS_KEY in secrets:
        raw, where = secrets[SECRETS_KEY], f"secrets.toml {SECRETS_KEY}"
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise AccessConfigError(f"{where} must be a string.")
    token = raw.strip()
    if len(token) < MIN_LENGTH:  # a guessable token is worse than none: it looks like protection
        raise AccessConfigError(f"{where} is too short: use at least {MIN_LENGTH} characters, e.g. the output "
                                "of: python -c \"import secrets; print(secrets.token_urlsafe(24))\"")
    return token


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison, so response times do not leak how much of a guess was right."""
    return hmac.compare_digest(str(given or "").strip().encode(), token.encode())


def fingerprint(token: str) -> str:
    """What a browser session keeps to remember it was let in: not the token, and stale once it changes."""
    return hashlib.sha256(b"fer-access:" + token.encode()).hexdigest()


BROWSER_COOKIE = "fer_browser"  # HttpOnly, set by the server gate (ui/gate.py); never shown or logged
LOG = logging.getLogger("fer.access")


def browser_binding(token: str, browser_secret: str | None) -> str | None:
    """What a let-in session keeps: the token's fingerprint tied to its browser's cookie.

    A session id travels in upload URLs and the websocket handshake, so a grant kept under the
    session id alone let anyone presenting the id in (issue 29). Tied to the HttpOnly cookie, the
    grant only holds while the same browser is connected. None when the browser sent no cookie.
    """
    if not browser_secret:
        return None
    return hmac.new(fingerprint(token).encode(), browser_secret.encode(), hashlib.sha256).hexdigest()


@dataclass
class _Failures:
    count: int = 0
    until: float = 0.0  # monotonic time before which this address may not try again


class Throttle:
    """Failed token attempts, per client address and for the whole server, with back-off.

    A per-session delay let 32 sessions guess 13 times a second (issue 29). After ``free`` failures
    an address waits ``base_s`` doubled at each further failure (at most ``max_s``); more than
    ``server_per_min`` failures a minute from everyone together make every address wait out the
    minute. Thread-safe: every session's script thread shares one.
    """

    def __init__(self, free: int = 5, base_s: float = 2.0, max_s: float = 300.0, server_per_min: int = 30,
                 clock=time.monotonic) -> None:
        self.free, self.base_s, self.max_s, self.server_per_min, self.clock = free, base_s, max_s, server_per_min, clock
        self._by_address: dict[str, _Failures] = {}
        self._recent: list[float] = []
        self._lock = threading.Lock()

    def wait_s(self, address: str) -> float:
        """Seconds before ``address`` may try a token again (0: now)."""
        now = self.clock()
        with self._lock:
            self._recent = [t for t in self._recent if now - t < 60.0]
            mine = self._by_address.get(address)
            own = mine.until - now if mine else 0.0
            server = 60.0 - (now - self._recent[0]) if len(self._recent) >= self.server_per_min else 0.0
        return max(0.0, own, server)

    def failed(self, address: str) -> float:
        """Count a wrong token from ``address``, log it, and return how long it must now wait."""
        now = self.clock()
        with self._lock:
            mine = self._by_address.setdefault(address, _Failures())
            mine.count += 1
            over = mine.count - self.free
            mine.until = now + (min(self.max_s, self.base_s * 2 ** (over - 1)) if over > 0 else 0.0)
            self._recent.append(now)
            if len(self._by_address) > 10_000:  # bounded: forget the addresses whose wait is over
                self._by_address = {a: f for a, f in self._by_address.items() if f.until > now}
            count = mine.count
        wait = self.wait_s(address)
        LOG.warning("wrong access token from %s (%d in a row); next attempt allowed in %.0f s", address, count, wait)
        return wait

    def succeeded(self, address: str) -> None:
        """The right token: this address starts afresh."""
        with self._lock:
            self._by_address.pop(address, None)
