# Two commands do all the set-up on a fresh machine:
#   make demo   run the matcher on the embedded default (no GPU, no downloaded weights)
#   make test   lint, static checks and the whole test suite
# Both create .venv/ first (scripts/setup.sh; quick when nothing changed).
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test lint unit demo

setup:
	@bash scripts/setup.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint unit

# CHECKPOINT=matchanything_eloftr.ckpt runs the demo with the released ELoFTR weights.
demo: setup
	$(BIN)/python scripts/demo.py $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT))
