# Two commands matter: `make run` and `make test`. Both set up .venv from the pinned lock first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint check-types pytest chat migrate bench lock clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/avatarbot run

chat: $(STAMP)
	$(BIN)/avatarbot chat

migrate: $(STAMP)
	$(BIN)/avatarbot migrate

test: lint pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

# The browser tests drive Debian's chromium package (Playwright's own browsers are not downloaded).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

# The store tests also run on a throwaway PostgreSQL from Debian's packages, on loopback.
pytest: $(STAMP) $(CHROMIUM)
	scripts/with-test-postgres $(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench

# Regenerate the pinned lock after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --extra dev --strip-extras -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
