# Two commands do all the set-up on a fresh machine:
#   make demo         run the matcher on the embedded default (no GPU, no downloaded weights)
#   make test         lint, static checks and the whole test suite (what CI runs)
#   make test-quick   lint and every test not marked slow (development; a few minutes)
# All create .venv/ first (scripts/setup.sh; quick when nothing changed).
# Tests run in TEST_WORKERS processes (pytest-xdist), each test file in one process, each process
# computing on one thread (two workers that each start two PyTorch threads fight over two cores).
VENV := .venv
BIN := $(VENV)/bin
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile
PYTEST := OMP_NUM_THREADS=1 $(BIN)/python -m pytest $(XDIST)

.PHONY: setup test test-quick lint unit demo

setup:
	@bash scripts/setup.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: setup
	$(PYTEST) --durations=25 $(PYTEST_ARGS)

test: lint unit

test-quick: lint
	$(PYTEST) -m "not slow" --durations=15 $(PYTEST_ARGS)

# CHECKPOINT=matchanything_eloftr.ckpt runs the demo with the released ELoFTR weights.
demo: setup
	$(BIN)/python scripts/demo.py $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT))
