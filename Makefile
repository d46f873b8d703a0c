# Common tasks. `make help` lists them.
PYTHON ?= python
TORCH ?= torch==2.13.0

.PHONY: help install test test-all lint format train demo clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install:  ## install torch (CPU build; set TORCH= for another), the project (editable), sweep plugins, ONNX, dev tools
	$(PYTHON) -m pip install $(TORCH)
	$(PYTHON) -m pip install -e ".[dev,sweep,onnx]"

test:  ## fast offline test suite (tiny models, synthetic data; ~4.7 min on 2 CPU cores, 2 pytest workers)
	$(PYTHON) -m pytest -m "not slow" -q -n 2 --dist worksteal

test-all:  ## every test, including the ones marked slow
	$(PYTHON) -m pytest -q -n 2 --dist worksteal

lint:  ## ruff lint + format check
	$(PYTHON) -m ruff check src tests benchmarks
	$(PYTHON) -m ruff format --check src tests benchmarks

format:  ## apply ruff fixes and formatting
	$(PYTHON) -m ruff check --fix src tests benchmarks
	$(PYTHON) -m ruff format src tests benchmarks

train:  ## default run: IMDB sentiment with DistilBERT (needs the hub or a local copy; see README)
	$(PYTHON) src/train.py

demo:  ## offline demo: tiny BERT + synthetic reviews, train + test in < 1 min on CPU
	$(PYTHON) -m src.demo --out .demo
	HF_HUB_OFFLINE=1 $(PYTHON) src/train.py experiment=demo

clean:  ## remove logs, caches and demo assets
	rm -rf logs .cache .demo .pytest_cache .ruff_cache
