# The README's first two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo demo-model test lint typecheck pytest slow bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hlsmap demo --out demo-out

# Retrain the shipped demo weights (hlsmap/data/demo-model) on a world of their own (seed 1).
demo-model: $(STAMP)
	$(BIN)/python -c "from pathlib import Path; from hlsmap.demo import DemoConfig, \
	train_demo_model; print(train_demo_model(DemoConfig(), Path('build/demo-train')))"
	rm -rf hlsmap/data/demo-model && mkdir -p hlsmap/data
	cp -r build/demo-train/train/model hlsmap/data/demo-model

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy hlsmap sensors training inference

pytest: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not slow" --durations=15

test: lint typecheck pytest

slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

bench: $(STAMP)
	for f in bench/bench_*.py; do $(BIN)/python $$f; done

clean:
	rm -rf $(VENV) build dist *.egg-info demo-out
