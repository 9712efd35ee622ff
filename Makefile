# Two commands for a fresh machine: `make run` (app on demo data) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test bench lint

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Create and migrate the SQLite database under data/, load demo data when empty, start the app.
run: $(VENV)/.installed
	$(PY) -m lib init --demo-if-empty
	$(PY) -m streamlit run Home.py

# Lint, then every test: library (SQLite and PostgreSQL), AppTest pages, real browser; one
# worker process per core (pytest-xdist; each file's tests in one worker, in their order;
# TEST_WORKERS=0 runs them all in this process).
TEST_WORKERS ?= auto
test: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

# Benchmarks at 1,000,000 items (run on demand; prints figures).
bench: $(VENV)/.installed-dev
	$(PY) -m bench

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
