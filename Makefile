# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo_output

.PHONY: demo test test-slow bench system-deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[all]'
	touch $(STAMP)

# Xvfb (PsychoPy windows), Chromium (report and browser tests), PostgreSQL (serve load test), then
# jsPsych from the npm registry (clickme serve); best effort, tests skip with a reason if absent.
system-deps:
	@bash scripts/install_system_deps.sh
	@bash scripts/install_web_deps.sh

demo: $(STAMP) system-deps
	$(VENV)/bin/clickme demo --out $(DEMO_OUT)

test: $(STAMP) system-deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

test-slow: $(STAMP) system-deps
	$(PY) -m pytest -m slow

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
