"""The package's folders say what may import what: each wing imports only the wings before it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAY_IMPORT = {
    "core": {"core"},
    "engine": {"core", "engine"},
    "analysis": {"core", "engine", "analysis"},
    "app": {"core", "engine", "analysis", "app"},
    "training": {"core", "engine", "analysis", "training"},
    "bench": {"core", "engine", "analysis", "app", "training", "bench"},
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (lazy imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_every_module_sits_in_a_wing():
    loose = [p.name for p in (ROOT / "fer_core").glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"modules outside the wings: {loose}"
    assert {p.name for p in (ROOT / "fer_core").iterdir() if (p / "__init__.py").exists()} == set(MAY_IMPORT)


@pytest.mark.parametrize("wing", sorted(MAY_IMPORT))
def test_wing_imports_only_the_wings_before_it(wing):
    bad = []
    for path in sorted((ROOT / "fer_core" / wing).glob("*.py")):
        for mod in imported_modules(path):
            parts = mod.split(".")
            bench_may = wing == "bench" and (parts[0] == "streamlit_webrtc" or mod.startswith("streamlit.proto"))
            if parts[0] in ("pages", "streamlit", "streamlit_webrtc") and not bench_may:
                # benchmarks drive the real stack: bench.live serves frames with the live page's WebRTC
                # worker, bench.uploads speaks Streamlit's wire format to a real server
                bad.append(f"{path.name} imports {mod}")
            elif parts[0] == "fer_core" and len(parts) > 1 and parts[1] in MAY_IMPORT \
                    and parts[1] not in MAY_IMPORT[wing]:
                bad.append(f"{path.name} imports {mod}")
    assert not bad, bad
