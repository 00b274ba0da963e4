# edgesdk: the two commands a new user needs are `make demo` and `make test`.
# Every target installs what is missing first (scripts/setup.sh is idempotent).
PY := .venv/bin/python
JOBS ?= $(shell nproc)

.PHONY: setup demo test test-fast bench wheel clean help

help:
	@echo "make demo   - train, compress, build, run on emulated Cortex-M4, fine-tune on device"
	@echo "make test   - the whole host + emulator test suite"
	@echo "make bench  - benchmarks; tables on stdout, JSON in bench/results/"
	@echo "make setup  - install apt toolchains, QEMU and the Python venv (done by the others)"

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) examples/demo.py

test: setup
	@bash scripts/run_tests.sh

bench: setup
	$(PY) -m bench

wheel: setup
	$(PY) -m pip wheel --no-deps -w dist .

clean:
	rm -rf build dist *.egg-info .pytest_cache
