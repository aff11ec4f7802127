# One entry point for a fresh machine: every target installs what it needs first.
#   make run    the package's main job (a short memory profile)
#   make test   every test (cargo + pytest)
#   make lint   the lints CI enforces (stubtest and the strict docs build included)
#   make docs   the documentation site (docs/ -> target/site), --strict
#   make bench  the side-by-side benchmark tables
#   make wheels the sdist and the manylinux wheels for every CPython, checked (dist/)

PYTHON ?= python3
VENV   := $(CURDIR)/.venv
BIN    := $(VENV)/bin
# Debian packages the build and the tests need (checked, installed only when missing):
# pkg-config for the native build; xvfb for the real X11 capture test; libxcb-randr0 and
# libxcb-shm0, which mss loads at run time to find the monitors and grab through shared memory;
# cmake + nasm build the vendored libjpeg-turbo 3.1 with its SIMD (Debian ships only 2.1);
# chromium loads the dashboard page headless in the tests and takes a screenshot of it.
DEBIAN_PACKAGES := pkg-config xvfb libxcb1 libxcb-randr0 libxcb-shm0 cmake nasm chromium

.PHONY: setup run test test-rust test-python lint bench bench-cache bench-imaging clean wheels wheel

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The tooling is in pyproject's dependency groups (PEP 735), which pip installs from 25.1 on.
setup: $(BIN)/python
	./scripts/ensure-debian-packages $(DEBIAN_PACKAGES)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade "pip>=25.1"
	$(BIN)/pip install --quiet --group test --group bench --group dev --group docs --group release
	VIRTUAL_ENV=$(VENV) $(BIN)/maturin develop --quiet --release --extras plot

# The memory profile, short (10 s per workload; the default is 60): report + plot in
# ~/.jarvis/profiling. DURATION=60 for the full run.
run: setup
	$(BIN)/ironcliw-mem profile --duration $(or $(DURATION),10)

test: setup test-rust test-python

test-rust:
	cargo test --quiet

# tests/, then the benchmarks' own tests (the replay's model and anchors, the benches run once
# at a small size) with timing off: a timing is a benchmark's figure, never a test's verdict.
test-python:
	$(BIN)/python -m pytest -q tests
	$(BIN)/python -m pytest -q benches --benchmark-disable

lint: setup
	cargo fmt --check
	cargo clippy --quiet --all-targets -- -D warnings
	cargo clippy --quiet --all-targets --features python -- -D warnings
	# check-macos-ffi compiles every macOS item on this OS too (clock, probe, dispatch watcher and,
	# with python, the binding's macOS arm): type-checked here, linked only on a Mac.
	cargo clippy --quiet --all-targets --features check-macos-ffi -- -D warnings
	cargo clippy --quiet --all-targets --features python,check-macos-ffi -- -D warnings
	$(BIN)/ruff check python tests benches scripts
	$(BIN)/ruff format --check python tests benches scripts
	$(BIN)/mypy python
	$(BIN)/mypy --strict scripts
	# The stubs against the built extension, and every module's annotations against its runtime.
	$(BIN)/python -m mypy.stubtest ironcliw_mem --allowlist stubtest-allowlist.txt
	$(BIN)/actionlint -no-color -shellcheck $(BIN)/shellcheck
	$(DOCS_BUILD)

# The site: docs/*.md plus API pages generated from the docstrings. --strict turns a broken link,
# a page missing from the nav or an unresolved API reference into a failure.
DOCS_BUILD := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(CURDIR)/target/site
.PHONY: docs
docs: setup
	$(DOCS_BUILD)

# Every side-by-side table, one after the other (each script interleaves its own contenders).
bench: bench-cache bench-imaging bench-pressure bench-soak bench-replay bench-import bench-replay-activity

# `import ironcliw_mem` (and one reading) against `import psutil`, fresh interpreters, -X importtime.
.PHONY: bench-import
bench-import: setup
	$(BIN)/python benches/compare_import.py --rounds $(or $(ROUNDS),30)

# RSS and cache bytes while 9 synthetic spaces are requested every second, a minute per level.
bench-soak: setup
	$(BIN)/python benches/capture_soak.py --seconds-per-level $(or $(SECONDS_PER_LEVEL),60)

bench-cache: setup
	$(BIN)/python benches/compare_cache.py

# Downscale + JPEG tiers against Pillow/OpenCV/simplejpeg; FILTER=bilinear etc. to change filter.
bench-imaging: setup
	$(BIN)/python benches/compare_imaging.py --filter $(or $(FILTER),catmull-rom)

# Probe + classify vs psutil vs a spawn, and the PSI-trigger wake latency (needs root for cgroups).
.PHONY: bench-pressure
bench-pressure: setup
	$(BIN)/python benches/compare_pressure.py

# A simulated day (simulated time, well under a minute): the original behaviour against the
# package's defaults; DAYS=7 also sums a week of seeds; BASELINE_MB=N changes the agent's
# non-vision memory (an assumption, 1000 MB by default); UNEXPLAINED_MB=N gives the original
# N MB more while the user is active (~925 reaches the reported 1.2 GB); SET="NAME=VALUE ..."
# changes any field of the model (e.g. SET=burst_bytes=1GB,2.5GB). Model: docs/replay.md.
# The first day's full figures go to target/replay_day.json (JSON=path to change).
.PHONY: bench-replay
bench-replay: setup
	mkdir -p target
	$(BIN)/python benches/replay_day.py --days $(or $(DAYS),1) --json $(or $(JSON),target/replay_day.json) \
		$(if $(BASELINE_MB),--agent-baseline-mb $(BASELINE_MB)) \
		$(if $(UNEXPLAINED_MB),--original-unexplained-mb $(UNEXPLAINED_MB)) \
		$(foreach assignment,$(SET),--set '$(assignment)')

# The day with the user's breaks and an always-on agent: the activity policy off and on
# (docs/activity.md). The full result goes to target/replay_activity.json.
.PHONY: bench-replay-activity
bench-replay-activity: setup
	mkdir -p target
	$(BIN)/python benches/replay_activity.py --json target/replay_activity.json

# The agent's legacy offload rule against OffloadAdvisor on the macOS memory model, with the
# sensitivity table (docs/offload-study.md).
.PHONY: bench-offload
bench-offload: setup
	$(BIN)/python benches/offload_study.py --days $(or $(DAYS),7)

# Wheels: zig links the extension against glibc 2.17 symbols from this newer host, so they are
# manylinux2014 (RHEL 7+, Ubuntu 20.04, Amazon Linux 2); maturin targets a CPython that is not
# installed from its own sysconfig data. scripts/check_wheels.py checks tags, contents and
# auditwheel for each, and installs and smoke-tests the ones whose CPython is on this machine.
WHEEL_PYTHONS := 3.11 3.12 3.13 3.14
# PATH: maturin finds zig through the venv's python (the ziglang package).
ZIG_BUILD := PATH=$(BIN):$$PATH $(BIN)/maturin build --quiet --release --zig --compatibility manylinux2014 --out dist

wheels: setup
	rm -rf dist
	$(BIN)/maturin sdist --out dist
	$(ZIG_BUILD) $(foreach version,$(WHEEL_PYTHONS),--interpreter python$(version))
	$(BIN)/python scripts/check_wheels.py dist

# CI: the one wheel this machine can run (setup's CPython), built, checked and smoke-tested,
# and an agent's script type-checked (mypy --strict) against it.
wheel: setup
	rm -rf dist
	$(ZIG_BUILD) --interpreter $(BIN)/python
	$(BIN)/python scripts/check_wheels.py --require-smoke --typecheck dist

clean:
	rm -rf $(VENV) target dist
