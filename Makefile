# hg — the two commands that matter: `make demo` (install, import a generated sample archive,
# serve) and `make test` (install, lint, run every test). Both work on a fresh Debian 12.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The demo's gallery home and generated sample archive (never inside a user's SOURCE).
DEMO_DIR ?= $(CURDIR)/.demo
SOURCE ?=
HG_HOME ?= $(DEMO_DIR)/home
export HG_HOME

.PHONY: all install system-deps test lint unit import serve run demo sample bench clean

all: test

system-deps:
	@bin/install-system-deps

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: system-deps $(VENV)/.installed

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install lint
	$(BIN)/pytest -q

# Generate the demo's sample archive (JPEGs with real EXIF, a PNG, a video, a RAW-like pair).
sample: install
	$(BIN)/python demo/make_sample_archive.py $(DEMO_DIR)/source

# Import SOURCE (default: the generated sample) into HG_HOME in growing chunks.
import: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bin/hg-import $(or $(SOURCE),$(DEMO_DIR)/source)

serve: install
	$(BIN)/hg-serve

# Serve and keep importing: watch the config's [[sources]] and import changes in the background.
run: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/hg-serve --watch

demo: install
	@if [ -z "$(SOURCE)" ]; then $(BIN)/python demo/make_sample_archive.py $(DEMO_DIR)/source; fi
	@# exit 1 = some files could not be read (reported above): the import completed, serve it
	PATH="$(CURDIR)/$(BIN):$$PATH" bin/hg-import $(or $(SOURCE),$(DEMO_DIR)/source) || [ $$? -eq 1 ]
	@echo "make demo: the gallery is at http://127.0.0.1:3000/ (HG_HOME=$(HG_HOME)); Ctrl-C stops it"
	$(BIN)/hg-serve

bench: install
	$(BIN)/python bench/index.py
	$(BIN)/python bench/extract.py
	$(BIN)/python bench/previews.py
	$(BIN)/python bench/ml.py
	$(BIN)/python bench/cluster.py
	$(BIN)/python bench/build.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/import.py
	$(BIN)/python bench/export_meta.py
	$(BIN)/python bench/export_static.py
	$(BIN)/python bench/million.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache *.egg-info
