# One entry point for a fresh machine: every target installs what it needs first.
#   make run    the package's main job
#   make test   every test (cargo + pytest)
#   make lint   the lints CI enforces
#   make bench  the side-by-side benchmark tables

PYTHON ?= python3
VENV   := $(CURDIR)/.venv
BIN    := $(VENV)/bin
# Debian packages the native build needs (checked, installed only when missing).
DEBIAN_PACKAGES := pkg-config

.PHONY: setup run test test-rust test-python lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "maturin>=1.7,<2"

setup: $(BIN)/python
	./scripts/ensure-debian-packages $(DEBIAN_PACKAGES)
	VIRTUAL_ENV=$(VENV) $(BIN)/maturin develop --quiet --release --extras test,bench,dev

run: setup
	$(BIN)/ironcliw-mem info

test: setup test-rust test-python

test-rust:
	cargo test --quiet

test-python:
	$(BIN)/python -m pytest -q tests

lint: setup
	cargo fmt --check
	cargo clippy --quiet --all-targets -- -D warnings
	cargo clippy --quiet --all-targets --features python -- -D warnings
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches
	$(BIN)/mypy python

bench: setup
	$(BIN)/python benches/compare.py

# Probe + classify vs psutil vs a spawn, and the PSI-trigger wake latency (needs root for cgroups).
.PHONY: bench-pressure
bench-pressure: setup
	$(BIN)/python benches/compare_pressure.py

clean:
	rm -rf $(VENV) target
