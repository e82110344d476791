# tododb: every target bootstraps .venv (pinned dependencies from pyproject.toml)
# when it is missing or pyproject.toml changed. See README.md.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Variables given on the command line (`make migrate DATABASE_URL=...`) are
# exported to the recipes by make itself, so the tool sees them.

.DEFAULT_GOAL := help

.PHONY: help migration migrate rollback status psql stop seed health bench schema types backup basebackup recover restore maintain doctor top lint test

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "tododb: Python 3.11 or newer is needed as $(PYTHON)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing tododb and its pinned dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[tool,dev]'
	@touch $@

help: ## list the targets, one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-z]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

migrate: $(STAMP) ## apply pending migrations to the embedded server (or DATABASE_URL), then print the status
	@$(BIN)/tododb migrate

rollback: $(STAMP) ## roll back the latest migration (ALL=1: every one)
	@$(BIN)/tododb rollback $(if $(filter 1 yes true,$(ALL)),--all)

status: $(STAMP) ## list applied and pending migrations; check checksums and drift
	@$(BIN)/tododb status

# NAME=verb_object [KIND=concurrent-index]
migration: $(STAMP) ## write the next migration pair to fill in: NAME=verb_object [KIND=concurrent-index]
	@$(BIN)/tododb migration '$(NAME)' $(if $(KIND),--kind '$(KIND)')

psql: $(STAMP) ## open psql on the configured database
	@$(BIN)/tododb psql

stop: $(STAMP) ## stop the embedded server
	@$(BIN)/tododb stop

seed: $(STAMP) ## load the development data (alice, bob, carol and a shared project)
	@$(BIN)/tododb seed

health: $(STAMP) ## check the connection: server version and round trip
	@$(BIN)/tododb health

schema: $(STAMP) ## regenerate schema/schema.sql and schema/README.md from a freshly migrated database
	@$(BIN)/tododb schema

# tododb/typed.py: typed results for the named queries, from a freshly migrated database (`make test` fails
# when it is stale, and runs mypy --strict on tododb/ and examples/).
types: $(STAMP) ## regenerate tododb/typed.py from a freshly migrated database
	@$(BIN)/tododb types

# FILE=path (default: backups/<dbname>-<UTC time>.dump); VERIFY=0 skips the restore into a scratch database
backup: $(STAMP) ## write a pg_dump archive and verify it restores: [FILE=path] [VERIFY=0]
	@$(BIN)/tododb backup $(if $(FILE),--file '$(FILE)') $(if $(filter 0 no false,$(VERIFY)),--no-verify)

basebackup: $(STAMP) ## a base backup of the embedded server for point-in-time recovery (needs TODODB_WAL_ARCHIVE)
	@$(BIN)/tododb basebackup

recover: $(STAMP) ## the embedded cluster as of a moment, in a new data folder: TO='2026-12-02 12:00:00+00' [INTO=dir]
	@$(BIN)/tododb recover --to '$(TO)' $(if $(INTO),--into '$(INTO)')

# FILE=path (default: the newest in backups/), INTO=dbname (a new database), FORCE=1 (replace a non-empty one)
restore: $(STAMP) ## restore an archive: [FILE=path] [INTO=dbname] [FORCE=1]
	@$(BIN)/tododb restore $(if $(FILE),'$(FILE)') $(if $(INTO),--into '$(INTO)') $(if $(filter 1 yes true,$(FORCE)),--force)

doctor: $(STAMP) ## check the database: version, TLS, migrations, drift, RLS, grants, indexes
	@$(BIN)/tododb doctor

top: $(STAMP) ## the live database: slowest statements, cache, bloat, vacuum, sessions, lock waits, connections
	@$(BIN)/tododb top

# JOB=purge|archive AGE=30d|365d [BATCH=1000]
maintain: $(STAMP) ## retention jobs: JOB=purge|archive AGE=30d|365d [BATCH=1000]
	@$(BIN)/tododb maintain '$(JOB)' --older-than '$(AGE)' $(if $(BATCH),--batch-size '$(BATCH)')

# BENCH_TASKS=20000 for a quick run (default 2,000,000).
bench: $(STAMP) ## benchmark the named queries at 2,000,000 tasks against bench/budgets.toml [BENCH_TASKS=n]
	@$(BIN)/tododb bench

lint: $(STAMP) ## sqlfluff and squawk on the SQL, no unfilled migration scaffold, ruff and mypy on the Python
	@$(BIN)/python -m tooling.lint

# The suite under coverage (subprocesses included), reported per module; fails below fail_under
# (pyproject.toml). COVERAGE=0 runs it without (CI's second server: the figure is held on the first).
COVERAGE ?= 1
COVERAGE_DATA := $(CURDIR)/$(VENV)/coverage/data

test: lint ## make lint, then the whole pytest suite under coverage, held at 85 % (what CI runs)
ifeq ($(COVERAGE),0)
	$(BIN)/pytest
else
	@rm -rf $(dir $(COVERAGE_DATA)) && mkdir -p $(dir $(COVERAGE_DATA))
	COVERAGE_FILE=$(COVERAGE_DATA) $(BIN)/coverage run -m pytest
	@COVERAGE_FILE=$(COVERAGE_DATA) $(BIN)/coverage combine -q
	@COVERAGE_FILE=$(COVERAGE_DATA) $(BIN)/coverage report
endif
