"""What the toolchain's commands share: a failure the user can fix is one 'error: ...' line and exit
status 2, never a traceback; a JSON report goes to stdout and, when asked, to a file."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path


class CommandError(Exception):
    """A command cannot finish for a reason the user can fix; str() says what."""


def run_command(work: Callable[[], object], errors: tuple[type[Exception], ...] = ()) -> int:
    """Exit status 0 after ``work()``; 2 after printing 'error: <message>' when it raises
    CommandError or one of ``errors``."""
    try:
        work()
    except (CommandError, *errors) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def write_json(report: object, path: str) -> None:
    """The report as JSON in ``path``, its folder made when missing."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(report, indent=1))
    except OSError as exc:
        raise CommandError(f"could not write {path}: {exc}") from None


def print_report(report: object, json_path: str | None = None) -> None:
    """The report as JSON on stdout, and in ``json_path`` when given."""
    print(json.dumps(report, indent=1))
    if json_path:
        write_json(report, json_path)
