"""fer_core.training.cli: a toolchain command fails with one 'error:' line and exit status 2."""

from __future__ import annotations

import json

from fer_core.training.cli import print_report, run_command


def _fail():
    raise ValueError("no such split")


def test_a_known_failure_is_one_line_and_status_2(capsys):
    assert run_command(_fail, (ValueError,)) == 2
    assert capsys.readouterr().err == "error: no such split\n"
    assert run_command(lambda: None) == 0


def test_report_printed_and_written(tmp_path, capsys):
    out = tmp_path / "new" / "report.json"
    assert run_command(lambda: print_report({"accuracy": 0.5}, str(out))) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(out.read_text()) == {"accuracy": 0.5}
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert run_command(lambda: print_report({}, str(blocked / "report.json"))) == 2
    assert capsys.readouterr().err.startswith(f"error: could not write {blocked / 'report.json'}")
