#!/usr/bin/env bash
# The whole test suite, exactly as README.md and .ci/run run it. Extra arguments go to pytest.
# Exit status: pytest's, except that "no tests ran" (pytest's 5) is a failure too.
# Two worker processes (pytest-xdist; FER_TEST_WORKERS=0 runs in this one), each taking whole test files
# so a module's fixture (a training run) is made once: 903 tests in 14 minutes on the 2-core machine
# (one process took 38 on an earlier, slower host).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -n "${PYTHON:-}" ]]; then py=$PYTHON
elif [[ -n "${VIRTUAL_ENV:-}" ]]; then py=python
elif [[ -x .venv/bin/python ]]; then py=.venv/bin/python
else py=python3
fi

workers=${FER_TEST_WORKERS:-2}
parallel=()
[[ $workers != 0 ]] && parallel=(-n "$workers" --dist loadfile)
mkdir -p test-artifacts
"$py" -m pytest "${parallel[@]}" --junitxml=test-artifacts/junit.xml --durations=15 "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "run_tests.sh: no tests ran; that counts as a failure" >&2
  exit 1
fi
exit $rc
