# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo_output
# pytest-xdist workers; each test file stays on one worker (the README test runs its commands in order).
TEST_WORKERS ?= 2

.PHONY: demo test test-slow docs wheel-smoke bench system-deps clean

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

# Both print the 15 slowest tests at the end (a test over ~20 s belongs in test-slow), and run the
# files on $(TEST_WORKERS) processes (make test TEST_WORKERS=0 runs them in this one).
test: $(STAMP) system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

test-slow: $(STAMP) system-deps
	$(PY) -m pytest -m slow -n $(TEST_WORKERS) --dist loadfile --durations=15

# The documentation site, offline, warnings as errors (a broken gallery example or a public
# function without a docstring fails it): docs/_build/html/index.html.
docs: $(STAMP)
	rm -rf docs/api  # generated stubs of modules that moved would fail the build
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: $(CURDIR)/docs/_build/html/index.html"

# Builds the wheel, installs it into a fresh venv outside the checkout, runs the commands there.
wheel-smoke: $(STAMP)
	PY=$(abspath $(PY)) bash scripts/wheel_smoke.sh

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache build dist docs/_build docs/api docs/auto_examples
