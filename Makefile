# caseflow: two commands on a fresh machine.
#   make demo   set up .venv if missing, then run a whole night on the samples
#   make test   set up .venv if missing, then lint, type-check and run the tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench samples clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/caseflow demo

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

# make bench BENCH_ARGS="--cases 10000000 --baseline --model" for another night
BENCH_ARGS ?= --cases 1000000 --baseline
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python bench/night.py $(BENCH_ARGS)

samples: $(STAMP)
	$(BIN)/python scripts/make_samples.py --out data/samples

clean:
	rm -rf $(VENV) var out .mypy_cache .ruff_cache .pytest_cache
