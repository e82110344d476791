# tododb: every target bootstraps .venv (pinned dependencies from pyproject.toml)
# when it is missing or pyproject.toml changed. See README.md.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Variables given on the command line (`make migrate DATABASE_URL=...`) are
# exported to the recipes by make itself, so the tool sees them.

.PHONY: migrate rollback status psql stop seed health bench schema types backup restore maintain doctor lint test

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "tododb: Python 3.11 or newer is needed as $(PYTHON)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing tododb and its pinned dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[tool,dev]'
	@touch $@

migrate: $(STAMP)
	@$(BIN)/tododb migrate

rollback: $(STAMP)
	@$(BIN)/tododb rollback $(if $(filter 1 yes true,$(ALL)),--all)

status: $(STAMP)
	@$(BIN)/tododb status

psql: $(STAMP)
	@$(BIN)/tododb psql

stop: $(STAMP)
	@$(BIN)/tododb stop

seed: $(STAMP)
	@$(BIN)/tododb seed

health: $(STAMP)
	@$(BIN)/tododb health

schema: $(STAMP)
	@$(BIN)/tododb schema

# tododb/typed.py: typed results for the named queries, from a freshly migrated database (`make test` fails
# when it is stale, and runs mypy --strict on tododb/ and examples/).
types: $(STAMP)
	@$(BIN)/tododb types

# FILE=path (default: backups/<dbname>-<UTC time>.dump)
backup: $(STAMP)
	@$(BIN)/tododb backup $(if $(FILE),--file '$(FILE)')

# FILE=path (default: the newest in backups/), INTO=dbname (a new database), FORCE=1 (replace a non-empty one)
restore: $(STAMP)
	@$(BIN)/tododb restore $(if $(FILE),'$(FILE)') $(if $(INTO),--into '$(INTO)') $(if $(filter 1 yes true,$(FORCE)),--force)

doctor: $(STAMP)
	@$(BIN)/tododb doctor

# JOB=purge|archive AGE=30d|365d [BATCH=1000]
maintain: $(STAMP)
	@$(BIN)/tododb maintain '$(JOB)' --older-than '$(AGE)' $(if $(BATCH),--batch-size '$(BATCH)')

# BENCH_TASKS=20000 for a quick run (default 2,000,000).
bench: $(STAMP)
	@$(BIN)/tododb bench

lint: $(STAMP)
	@$(BIN)/python -m tooling.lint

test: lint
	$(BIN)/pytest
