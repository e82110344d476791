# tododb: every target bootstraps .venv (pinned dependencies from pyproject.toml)
# when it is missing or pyproject.toml changed. See README.md.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Variables given on the command line (`make migrate DATABASE_URL=...`) are
# exported to the recipes by make itself, so the tool sees them.

.PHONY: migrate rollback status psql stop seed health bench schema backup restore maintain doctor lint test

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "tododb: Python 3.11 or newer is needed as $(PYTHON)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing tododb and its pinned dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

migrate: $(STAMP)
	@$(BIN)/tooling migrate

rollback: $(STAMP)
	@$(BIN)/tooling rollback $(if $(filter 1 yes true,$(ALL)),--all)

status: $(STAMP)
	@$(BIN)/tooling status

psql: $(STAMP)
	@$(BIN)/tooling psql

stop: $(STAMP)
	@$(BIN)/tooling stop

seed: $(STAMP)
	@$(BIN)/tooling seed

health: $(STAMP)
	@$(BIN)/tooling health

schema: $(STAMP)
	@$(BIN)/tooling schema

# FILE=path (default: backups/<dbname>-<UTC time>.dump)
backup: $(STAMP)
	@$(BIN)/tooling backup $(if $(FILE),--file '$(FILE)')

# FILE=path (default: the newest in backups/), INTO=dbname (a new database), FORCE=1 (replace a non-empty one)
restore: $(STAMP)
	@$(BIN)/tooling restore $(if $(FILE),'$(FILE)') $(if $(INTO),--into '$(INTO)') $(if $(filter 1 yes true,$(FORCE)),--force)

doctor: $(STAMP)
	@$(BIN)/tooling doctor

# JOB=purge|archive AGE=30d|365d [BATCH=1000]
maintain: $(STAMP)
	@$(BIN)/tooling maintain '$(JOB)' --older-than '$(AGE)' $(if $(BATCH),--batch-size '$(BATCH)')

# BENCH_TASKS=20000 for a quick run (default 2,000,000).
bench: $(STAMP)
	@$(BIN)/tooling bench

lint: $(STAMP)
	@$(BIN)/python -m tooling.lint

test: lint
	$(BIN)/pytest
