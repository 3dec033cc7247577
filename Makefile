# `make book` and `make test`; `make bench`, `make campaign MINUTES=N` and `make tf-env` for speed and the paper budget.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
TF_VENV ?= .venv-tf
SEEDS  ?= 0 1 2
WORKERS ?= 1

MINUTES ?= 60

.PHONY: book test notebooks campaign-pages sine-results bench campaign source-manifest tf-env clean

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

book: $(STAMP)  ## build the Jupyter Book (warnings are errors)
	$(BIN)/jupyter-book build --all book/ -W -n --keep-going
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

test: $(STAMP)  ## the whole suite: unit tests, the book build + browser check, nbval over every notebook
	$(BIN)/python -m pytest --nbval  # testpaths, nbval's options: pyproject.toml and conftest.py

notebooks: $(STAMP)  ## re-execute the chapters in place so their stored outputs match the committed results
	$(BIN)/python -m reptile.runner refresh book/*.ipynb

sine-results: $(STAMP)  ## the paper-protocol sine runs for SEEDS (minutes per seed on a CPU)
	$(BIN)/python -m reptile.runner run book/sine.ipynb --seeds $(SEEDS) -p preset paper -p recompute True --jobs 2

bench: $(STAMP)  ## the speed benchmark (a few minutes): results/bench/<device>.json
	$(BIN)/python -m reptile.bench

campaign: $(STAMP)  ## advance the paper-budget campaign for MINUTES on WORKERS processes (low priority); then make campaign-pages, and commit results/campaign/ with the pages
	nice -n 19 $(BIN)/python -m reptile.campaign --minutes $(MINUTES) --workers $(WORKERS)

campaign-pages: $(STAMP)  ## re-execute the pages that show results/campaign/ (status, Figure 3, few-shot, MAML): run before committing checkpoints, or nbval fails on the stale pages
	$(BIN)/python -m reptile.runner refresh book/status.ipynb book/gradient_combinations.ipynb book/fewshot.ipynb book/maml.ipynb

source-manifest: $(STAMP)  ## SOURCE.json: this commit and its src/ hashes, for a copy without .git (carry it to a GPU machine)
	$(BIN)/python -c "import subprocess; from reptile.provenance import write_source_manifest as w; print(w(subprocess.check_output(['git', 'rev-parse', 'HEAD'], text=True).strip()))"

tf-env: $(TF_VENV)/.installed  ## TensorFlow 2.21 (CPU) + tf-keras + Pillow in .venv-tf, to time the authors' code (reptile.bench.authors_record)

# tf-keras without its dependencies: they would pull the full `tensorflow` wheel over tensorflow-cpu
$(TF_VENV)/.installed:
	@test -x $(TF_VENV)/bin/python || $(PYTHON) -m venv $(TF_VENV)
	$(TF_VENV)/bin/python -m pip install -q --upgrade pip
	$(TF_VENV)/bin/python -m pip install -q tensorflow-cpu==2.21.0
	$(TF_VENV)/bin/python -m pip install -q --no-deps tf-keras==2.21.0
	$(TF_VENV)/bin/python -m pip install -q pillow  # their omniglot.py reads the PNGs (the run_omniglot.py check)
	@touch $@

clean:
	rm -rf _build book/_build runs
