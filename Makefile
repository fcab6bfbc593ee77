# make test: the Rust unit tests, then the Python tests against the installed
# (editable) extension. `make develop` rebuilds the extension after Rust edits.
PYTHON ?= python
CARGO ?= cargo

.PHONY: test test-rust test-python develop bench lint fmt wheel docs test-simd stubtest

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
	$(MAKE) stubtest

# The type stubs of the compiled extension against the installed module (mypy's stubtest).
stubtest:
	$(PYTHON) -m mypy.stubtest rnnrs._core --allowlist .ci/stubtest-allowlist

fmt:
	$(CARGO) fmt
	$(PYTHON) -m ruff format $(wildcard python tests benches examples)

wheel:
	maturin build --release --out dist

# The documentation site (MkDocs + mkdocstrings; `pip install -e ".[docs]"`), warnings as errors.
docs:
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict --quiet --site-dir site
# Every instruction-set path this CPU supports (RNNRS_SIMD=avx512/avx2/
# neon/scalar), so none rots: the Rust kernel, GEMM and reservoir tests and
# the numeric Python tests (layers, RTRL, reservoirs, training) on each.
SIMD_PY_TESTS = tests/test_simd.py tests/test_layers_reference.py tests/test_layers_gradients.py \
	tests/test_rtrl.py tests/test_rtrl_approx.py tests/test_esn.py tests/test_ridge.py \
	tests/test_optim.py tests/test_trainer.py
test-simd:
	@paths=$$($(PYTHON) -c "from rnnrs import _core; print(' '.join(_core.simd_paths()))"); \
	for p in $$paths; do \
		echo "== RNNRS_SIMD=$$p"; \
		RNNRS_SIMD=$$p $(CARGO) test -q --lib -- kernels:: linalg:: reservoir:: || exit 1; \
		RNNRS_SIMD=$$p $(PYTHON) -m pytest -q -p no:cacheprovider --benchmark-disable $(SIMD_PY_TESTS) || exit 1; \
	done
