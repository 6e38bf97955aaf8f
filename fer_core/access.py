"""The dashboard's optional shared access token: off unless FER_ACCESS_TOKEN or secrets.toml sets one.

On loopback (the default ``server.address``) only the machine's own users reach the app. Anyone who
can reach an exposed server could open, export and delete every saved session, so an exposed
server names a token here and every page asks for it once per browser session.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Any

ENV_VAR = "FER_ACCESS_TOKEN"
SECRETS_KEY = "access_token"
MIN_LENGTH = 8


class AccessConfigError(ValueError):
    """The configured token cannot be used; str() is user-facing (never quotes the token)."""


def configured_token(env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> str | None:
    """The shared token (env var first, then secrets.toml), or None when access is open."""
    env = os.environ if env is None else env
    raw, where = env.get(ENV_VAR, ""), ENV_VAR
    if not raw.strip() and secrets is not None and SECRETS_KEY in secrets:
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
