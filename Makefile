# make test: the Rust unit tests, then the Python tests against the installed
# (editable) extension. `make develop` rebuilds the extension after Rust edits.
PYTHON ?= python
CARGO ?= cargo

.PHONY: test test-rust test-python develop bench lint fmt wheel docs

test: test-rust test-python

test-rust:
	$(CARGO) test

# pytest exit code 5 means "no tests collected": that is a failure here.
test-python:
	$(PYTHON) -m pytest -q -p no:cacheprovider --benchmark-disable tests

# Quicker rebuild than the release profile (no fat LTO); same code paths.
develop:
	maturin develop --profile dev-opt

bench:
	$(CARGO) bench
	$(PYTHON) -m pytest -q benches --benchmark-only
	$(PYTHON) benches/compare.py

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features python -- -D warnings
	$(PYTHON) -m ruff check $(wildcard python tests benches examples)

fmt:
	$(CARGO) fmt
	$(PYTHON) -m ruff format $(wildcard python tests benches examples)

wheel:
	maturin build --release --out dist

# The documentation site (MkDocs + mkdocstrings; `pip install -e ".[docs]"`), warnings as errors.
docs:
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict --quiet --site-dir site
