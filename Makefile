# The two quick-start commands: `make demo` and `make test`. Each creates .venv on a fresh machine.
# `make demo` installs what the library needs at run time and the `serve` extra (the demo ends
# with the command that serves the playground); `make test` adds the test toolchain (the `dev`
# dependency group in pyproject.toml) to the same .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
DEV := $(VENV)/.dev

.PHONY: demo test lint typecheck pytest bench schemas clean

$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[serve]'
	touch $(RUNTIME)

# pip 25.1 is the first to install a dependency group (`--group`).
$(DEV): $(RUNTIME)
	$(BIN)/pip install --quiet -e . --group dev
	touch $(DEV)

demo: $(RUNTIME)
	$(BIN)/triage demo

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(DEV)
	$(BIN)/mypy

pytest: $(DEV)
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(DEV)
	$(BIN)/python -m benchmarks

schemas: $(RUNTIME)
	$(BIN)/python -m triage.cli schema referral > docs/schemas/referral.schema.json
	$(BIN)/python -m triage.cli schema decision > docs/schemas/decision.schema.json
	$(BIN)/python -m triage.cli schema rulebook > docs/schemas/rulebook.schema.json
	$(BIN)/python -m triage.cli schema scenario > docs/schemas/scenario.schema.json
	$(BIN)/python -m triage.cli schema record > docs/schemas/record.schema.json
	$(BIN)/python -m triage.cli serve --openapi --engine reference > docs/schemas/openapi.json

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
