# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv if missing, installs torch==2.13.0 first (the CPU build on this machine's
# disk; any other version would pull a multi-GB CUDA build), then the package with its dev extra.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tda-interp-installed
DEMO_DIR ?= demo-output

.PHONY: install demo test test-fast bench lint clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tda-interp demo -o $(DEMO_DIR)

test: $(STAMP)
	TDA_INTERP_NO_SKIPS=1 $(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

EXAMPLES := 01_grokking_control 02_neuron_torus 03_tms_pentagon 04_topology_simplification \
	05_minilm_depth 06_cross_architecture

.PHONY: examples
examples: $(STAMP)  # each trains its model from scratch (full budget) and prints PASS/FAIL
	@status=0; for e in $(EXAMPLES); do echo "== examples/$$e.py"; \
		$(PY) examples/$$e.py || status=1; done; exit $$status

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check tda_interp tests benchmarks
	$(VENV)/bin/ruff format --check tda_interp tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
