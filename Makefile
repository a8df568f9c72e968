# The two commands a newcomer needs:  `make demo`  and  `make test`  (both run `make setup` first).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-slow lint bench300 clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(BIN)/podocr demo

lint: setup
	$(BIN)/ruff check podocr tests benchmarks jobs
	$(BIN)/ruff format --check podocr tests benchmarks jobs
	$(BIN)/mypy podocr

test: setup
	$(BIN)/pytest -m "not slow" -q

test-slow: setup
	$(BIN)/pytest -m slow -q || [ $$? -eq 5 ]  # exit 5 = no slow tests selected

bench300: setup
	$(BIN)/podocr synth --out data/bench300 --n 300 --seed 7 --workers 2

clean:
	rm -rf demo out data .pytest_cache .mypy_cache .ruff_cache
