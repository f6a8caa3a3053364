# The two fresh-machine commands: `make demo` and `make test`.
# Both create .venv if missing and install the project with everything it needs.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.brainlens-installed
DEMO_OUT ?= runs/demo
PYTEST_ARGS ?=

.PHONY: install demo test clean

install: $(STAMP)

# Without a usable CUDA device, torch comes from the pinned CPU build; with one, a normal torch install.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then \
		$(PY) -m pip install --quiet "torch>=2.1"; \
	else \
		$(PY) -m pip install --quiet torch==2.13.0; \
	fi
	$(PY) -m pip install --quiet -e ".[bench,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/brainlens demo --out $(DEMO_OUT)

# the layer order and the lint rules (pyproject.toml) first: a reach-back or a lint error fails the run
test: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
