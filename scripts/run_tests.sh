#!/usr/bin/env bash
# Runs the test suite. pytest's exit code 5 ("no tests collected") counts as a failure
# here: a suite that runs nothing proves nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
jobs=$(nproc)
$PY -m pytest -n "$jobs" --dist loadfile tests hil_tests "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "run_tests: pytest collected no tests" >&2
  exit 1
fi
exit $rc
