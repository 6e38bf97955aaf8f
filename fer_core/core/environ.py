"""Reading the FER_* environment variables: one way for every setting an operator can make.

Each reader takes an optional mapping (tests pass a dict) and otherwise reads os.environ at the
call, so a changed variable counts without a restart; blank means unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def env_text(name: str, env: Mapping[str, str] | None = None) -> str:
    """Variable ``name`` of ``env`` (default: os.environ), stripped; '' when unset or blank."""
    return (os.environ if env is None else env).get(name, "").strip()
