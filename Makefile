# The two quick-start commands: `make demo` and `make test`. Each creates .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench schemas clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/triage demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

schemas: $(STAMP)
	$(BIN)/python -m triage.cli schema referral > docs/schemas/referral.schema.json
	$(BIN)/python -m triage.cli schema decision > docs/schemas/decision.schema.json
	$(BIN)/python -m triage.cli schema rulebook > docs/schemas/rulebook.schema.json
	$(BIN)/python -m triage.cli schema scenario > docs/schemas/scenario.schema.json
	$(BIN)/python -m triage.cli schema record > docs/schemas/record.schema.json

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
