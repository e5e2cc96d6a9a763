# MedFusion — two commands: `make run` (the whole course) and `make test` (what CI runs).
# Both create or update the local virtualenv .venv from pyproject.toml when needed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed
QUICK  ?= 0
# Notebook cells may take this long in quick mode before nbval fails them.
CELL_TIMEOUT ?= 300
# pytest workers: three on a 2-core laptop. Many tests wait on other processes (kernels starting, Flower's polling,
# JupyterLab, Chromium), and a third worker fills a core while one waits (bench tests, one run each: pytest 524 s with
# two workers, in a run whose site tests errored early, and 390 s with three, every worker busy until the end).
WORKERS ?= 3

export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0
# No MPLBACKEND here: kernels inherit make's environment, and Agg would make every plt.show() draw nothing.

.PHONY: all venv data run test test-lib test-notebooks exercises lab bench clean

all: run

venv: $(STAMP)

# .venv is a hard-linked copy of a dependency-only venv cached on this machine under
# ~/.cache/medfusion/venvs/<hash of the dependency list + Python>, plus this checkout installed editable.
# A machine without that cache builds it from nothing; a changed dependency list builds a new one (the newest
# 2 are kept). MEDFUSION_VENV_CACHE=off installs straight into .venv; =DIR moves the cache. See tools/venv.py.
$(STAMP): pyproject.toml tools/venv.py
	$(PYTHON) tools/venv.py --venv $(VENV)
	@touch $@

data: venv
	$(BIN)/medfusion data build

run: venv
	$(BIN)/medfusion course run $(if $(filter 1 true yes,$(QUICK)),--quick,)

exercises: venv
	$(BIN)/medfusion exercises build

# Tests may use the real PneumoniaMNIST file beside the checkout (../shared/data); the course never needs it.
SHARED_NPZ := $(wildcard $(abspath ..)/shared/data/pneumoniamnist.npz)

# One BLAS/OpenMP/torch thread per process: the two pytest workers (and their kernels) already fill both cores, and a
# second thread each only spins (measured: bench hospitals' quick run 14 -> 7 CPU-s, one image cost timing 7 -> 0.75 s).
TEST_THREADS := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# Bytecode caches (__pycache__, ignored by git) as Python writes them by default: with PYTHONDONTWRITEBYTECODE set
# (some shells and CI images set it) every process recompiled the library and pytest rewrote every test file again
# (measured: collecting tests/ took 17 CPU-s per worker instead of 12).
TEST_BYTECODE := PYTHONDONTWRITEBYTECODE=

# The trained artefacts under build/cache (named by hashes of the code and data that made them) and the default cohort
# (when its build.json is what `data build` would write today) are shared with the other checkouts of this machine:
# restored before the build and the tests, new ones saved after, whatever the result
# (tools/artefacts.py; MEDFUSION_ARTEFACT_CACHE=off turns it off).
test: venv
	$(BIN)/python tools/artefacts.py restore
	$(BIN)/medfusion data build
	$(BIN)/medfusion exercises check
	$(TEST_THREADS) $(TEST_BYTECODE) MEDFUSION_QUICK=1 MEDFUSION_PROGRESS=0 $(if $(SHARED_NPZ),MEDFUSION_MEDMNIST_NPZ=$(SHARED_NPZ),) $(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder \
		--durations=15 --nbval-lax --nbval-cell-timeout=$(CELL_TIMEOUT) tests notebooks solutions; \
	status=$$?; $(BIN)/python tools/artefacts.py save; exit $$status

lab: venv
	$(BIN)/medfusion data build
	$(BIN)/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root,)

bench: venv
	@echo "usage: $(BIN)/medfusion bench NAME   (see: medfusion bench --help)"

clean:
	rm -rf build .pytest_cache

# The course website (issue 15): build/site/ from the executed lessons of `make run` (runs the missing ones first;
# QUICK=1 builds from quick-mode runs). No network needed; open build/site/index.html or serve build/site.
.PHONY: site system-deps-browser
site: venv
	$(BIN)/medfusion site build $(if $(filter 1 true yes,$(QUICK)),--quick,)

# Headless Chromium for the browser tests (tests/test_browser_*.py): Debian's package, installed once when
# running as root and missing; otherwise one line says how to get it (the browser tests skip without it).
system-deps-browser:
	@if command -v chromium >/dev/null 2>&1 || [ -x /usr/lib/chromium/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else echo "note: chromium is missing, so the browser tests will be skipped; install it once: sudo apt-get install chromium"; fi
test: system-deps-browser

# Grading runs every kernel in a bubblewrap sandbox (Debian package `bubblewrap`, the engine Flatpak uses).
# As root on Debian/Ubuntu (CI, containers) it is installed here; elsewhere this says what to run.
.PHONY: system-deps
system-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bubblewrap (the grader's sandbox)"; \
	    apt-get install -y -q bubblewrap >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null; }; \
	  else \
	    echo "make: the grader needs bubblewrap: run 'sudo apt-get install bubblewrap' (Debian/Ubuntu) or 'sudo dnf install bubblewrap' (Fedora); until then the sandboxed grading tests are skipped and 'medfusion grade' refuses (or use --trusted-class)" >&2; \
	  fi; }
test: system-deps
