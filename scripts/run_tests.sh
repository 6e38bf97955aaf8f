#!/usr/bin/env bash
# The whole test suite, exactly as README.md and .ci/run run it. Extra arguments go to pytest.
# Exit status: pytest's, except that "no tests ran" (pytest's 5) is a failure too.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -n "${PYTHON:-}" ]]; then py=$PYTHON
elif [[ -n "${VIRTUAL_ENV:-}" ]]; then py=python
elif [[ -x .venv/bin/python ]]; then py=.venv/bin/python
else py=python3
fi

mkdir -p test-artifacts
"$py" -m pytest --junitxml=test-artifacts/junit.xml --durations=15 "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "run_tests.sh: no tests ran; that counts as a failure" >&2
  exit 1
fi
exit $rc
