# costlens: `make demo` runs the dashboard on generated sample data, `make test` checks everything.
# Both create .venv with the system python3 and install the pinned versions in constraints.txt;
# a second run installs nothing (the stamp files below record what was installed).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint typecheck pytest bench screenshots constraints clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-runtime: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install -c constraints.txt -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install -c constraints.txt -e '.[dev,spark]'
	touch $(VENV)/.stamp-runtime $@

demo: $(VENV)/.stamp-runtime
	$(BIN)/costlens demo

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.stamp-dev
	$(BIN)/mypy costlens ingest reports

# One worker per core; --dist loadfile keeps each test module (and its module-scoped
# fixtures, such as a synced demo) on one worker.
pytest: $(VENV)/.stamp-dev
	$(BIN)/pytest -n auto --dist loadfile

test: lint typecheck pytest

bench: $(VENV)/.stamp-dev
	$(BIN)/python benchmarks/run_all.py

# The README's pictures, taken by the browser tests (headless Chromium) on their sample data.
screenshots: $(VENV)/.stamp-dev
	$(BIN)/pytest -q tests/test_browser_dashboard.py tests/test_digest_delivery.py
	mkdir -p docs/img
	cp build/screenshots/overview.png build/screenshots/owner-scorecard.png \
	   build/screenshots/digest.png docs/img/

# Re-resolve and pin every dependency (run after changing pyproject.toml's dependencies).
constraints: | $(BIN)/python
	$(PIP) install -e '.[dev,spark]'
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' | sort -f > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
