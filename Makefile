# Two commands matter: `make run` and `make test`. Both set up .venv from a pinned lock first:
# `make run` from requirements.lock (what the bot needs), `make test` from requirements-dev.lock
# (the same pins plus the test and lint tools).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check
STAMP  := $(VENV)/.installed-run
DEV    := $(VENV)/.installed-dev

.PHONY: run test lint check-types pytest chat migrate bench mutation mutation-sample lock messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(PIP) --require-hashes -r requirements.lock
	$(PIP) --no-deps -e .
	touch $(STAMP)

$(DEV): requirements-dev.lock pyproject.toml | $(BIN)/python
	$(PIP) --require-hashes -r requirements-dev.lock
	$(PIP) --no-deps -e .
	touch $(DEV) $(STAMP)

run: $(STAMP)
	$(BIN)/avatarbot run

chat: $(STAMP)
	$(BIN)/avatarbot chat

migrate: $(STAMP)
	$(BIN)/avatarbot migrate

test: lint pytest

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

# The browser tests drive Debian's chromium package (Playwright's own browsers are not downloaded).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

# The store tests also run on a throwaway PostgreSQL from Debian's packages, on loopback.
pytest: $(DEV) $(CHROMIUM)
	scripts/with-test-postgres $(BIN)/pytest

bench: $(DEV)
	$(BIN)/python -m bench

# Mutation testing, not part of `make test` (all of it takes over an hour): see docs/testing.md
# and [tool.mutmut] in pyproject.toml. The store tests run on a throwaway PostgreSQL too, so the
# PostgreSQL stores are tested. mutmut resumes where it stopped; `rm -rf mutants` starts afresh.
# `make mutation-sample` runs a uniform random sample of 400 mutants (about 30 minutes) and
# prints the surviving share with its 95 % interval. MUTATION_CHILDREN: parallel mutants.
MUTATION_CHILDREN ?= 1

mutation: $(DEV)
	PATH=$(BIN):$$PATH scripts/with-test-postgres $(BIN)/mutmut run --max-children $(MUTATION_CHILDREN)
	$(BIN)/mutmut export-cicd-stats
	$(BIN)/mutmut results

mutation-sample: $(DEV)
	PATH=$(BIN):$$PATH scripts/with-test-postgres $(BIN)/python scripts/mutation-sample 400 2026 $(MUTATION_CHILDREN)

# Regenerate both locks after changing dependencies in pyproject.toml. No index or find-links
# lines of this machine go into them: another machine's pip would warn about each.
LOCK_FLAGS := --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
	--no-emit-trusted-host

lock: $(DEV)
	$(PIP) pip-tools
	$(BIN)/pip-compile $(LOCK_FLAGS) -o requirements.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra dev -o requirements-dev.lock pyproject.toml

# The bot's own lines (core/i18n.py): extract every message id into the template, then merge
# it into each catalogue; new ids arrive untranslated (tests/test_i18n.py names them). A new
# language: $(BIN)/pybabel init -D avatarbot -i $(LOCALES)/avatarbot.pot -d $(LOCALES) -l xx
LOCALES := core/locales
EXTRACT := -F babel.cfg -k Line -k locale_str --no-location --sort-output --project avatarbot

messages: $(DEV)
	$(BIN)/pybabel extract $(EXTRACT) -o $(LOCALES)/avatarbot.pot .
	$(BIN)/pybabel update -D avatarbot -i $(LOCALES)/avatarbot.pot -d $(LOCALES) \
		--no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
