# The README's two commands: `make run` (the studio on embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-contract install lint serve-production

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python scripts/run_studio.py

test: install
	$(BIN)/python -m pytest

# The contract suite through a real ComfyUI (../shared/comfyui/real, or COMFYUI_CONTRACT_URL).
test-contract: install
	$(BIN)/python -m pytest -m real_comfyui tests/contract

lint: install
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run

# Production web process: migrate, collectstatic, check --deploy, gunicorn (see README).
serve-production: install
	PYTHON=$(BIN)/python scripts/serve_production.sh
