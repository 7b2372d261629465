# FaceMood: `make demo` runs the main job, `make test` runs every test.
# Each target creates the virtual environment it needs (.venv) and installs into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?=

.PHONY: demo test lint bench model clean help

help:
	@echo "make demo   - run FaceMood locally end to end (DATA=path/to/fer2013.csv to run the pipeline on it)"
	@echo "make test   - run every test"
	@echo "make lint   - pylint and ruff"
	@echo "make bench  - print the benchmarks' figures"
	@echo "make model  - retrain the shipped model on ../shared/data/fer2013.npz (about 75 min on 2 cores)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.dev-installed
	$(BIN)/facemood demo $(if $(DATA),--data $(DATA))

test: lint
	$(BIN)/python -m pytest

lint: $(VENV)/.dev-installed
	$(BIN)/pylint facemood pipeline preprocessing_lambda app/app.py tests bench scripts
	$(BIN)/ruff check .

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/augment_bench.py
	$(BIN)/python bench/train_bench.py
	$(BIN)/python bench/inference_bench.py
	$(BIN)/python bench/face_bench.py

model: $(VENV)/.dev-installed
	$(BIN)/facemood train --config config/model-fer2013.yaml --output .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
