# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/imipd serve $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/mypy --strict src

test: lint
	scripts/ensure-chromium
	scripts/ensure-tshark
	$(BIN)/pytest

# Rewrite the files generated from the config definition.
docs: $(STAMP)
	$(BIN)/python -c 'from imipd.server.config_docs import GENERATED; [p.write_text(f()) for p, f in GENERATED.items()]'
