# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed

.PHONY: run test install lint docs

# `make run` needs only what imipd needs at run time; the test toolchain (playwright,
# mypy, ruff, ...) comes with the first `make test`.
$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(RUNTIME)
	$(BIN)/imipd serve $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/mypy --strict src

test: lint
	scripts/ensure-chromium
	scripts/ensure-tshark
	scripts/ensure-services
	$(BIN)/pytest

# Rewrite the generated files: the config example and reference, the manual pages.
docs: $(STAMP)
	$(BIN)/python -c 'from imipd.server.config_docs import GENERATED; [p.write_text(f()) for p, f in GENERATED.items()]'
	$(BIN)/python -c 'from imipd.cli.manpages import GENERATED; [p.write_text(f()) for p, f in GENERATED.items()]'
