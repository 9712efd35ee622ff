# Two commands for a fresh machine: `make run` (app on demo data) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test bench lint

# The pinned packages go in with uv (pip's resolver and installer took 57 s of a fresh clone's
# first `make run` on a slow machine, uv 3 s); with pip if uv cannot be had or fails.
UV_VERSION := 0.13.9
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
define install
	{ { [ -x $(VENV)/bin/uv ] || $(PIP) uv==$(UV_VERSION); } && $(VENV)/bin/uv pip install --quiet --python $(PY) -r $(1); } \
	  || { echo "uv failed: installing with pip" >&2; $(PIP) -r $(1); }
endef

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(call install,requirements.txt)
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(call install,requirements-dev.txt)
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
