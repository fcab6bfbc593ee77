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
	$(PYTHON) -m ruff check $(wildcard python tests benches examples scripts)
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

# The Rust core's unit tests built for aarch64 and run under qemu user
# emulation: every test on the NEON path, then the kernel and GEMM tests with
# RNNRS_SIMD=scalar. Needs a rustc with the aarch64 standard library
# (AARCH64_RUSTC: rustup's with `rustup target add aarch64-unknown-linux-gnu`,
# or Debian's rustc-web + libstd-rust-web-dev:arm64 as /usr/bin/rustc), the
# cross linker and qemu-aarch64 (docs/guides/platforms.md); skips with a
# message when one is missing. Its own target dir keeps the x86 build intact.
# The tests are linked statically: Debian 12's qemu-aarch64 (7.2) hangs in
# the first pthread_create of a dynamically linked binary run against the
# cross glibc (`-L /usr/aarch64-linux-gnu`), i.e. in any test harness.
AARCH64 = aarch64-unknown-linux-gnu
AARCH64_RUSTC ?= $(firstword $(foreach r,/usr/bin/rustc rustc,$(if $(wildcard $(shell $(r) --print target-libdir --target $(AARCH64) 2>/dev/null)/libstd-*),$(r))))
.PHONY: test-aarch64
test-aarch64:
	@if [ -z "$(AARCH64_RUSTC)" ]; then \
		echo "test-aarch64: skipped (no rustc with the $(AARCH64) standard library: rustup target add $(AARCH64), or apt-get install rustc-web libstd-rust-web-dev:arm64)"; exit 0; fi; \
	for tool in aarch64-linux-gnu-gcc qemu-aarch64; do \
		command -v $$tool >/dev/null || { echo "test-aarch64: skipped ($$tool not found: apt-get install gcc-aarch64-linux-gnu qemu-user)"; exit 0; }; \
	done; \
	export RUSTC="$(AARCH64_RUSTC)" CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
		CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
		CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64; \
	echo "== aarch64 (qemu), NEON path, rustc: $$($$RUSTC -V)"; \
	env -u RNNRS_SIMD $(CARGO) test -q --lib --target $(AARCH64) --target-dir target/aarch64 || exit 1; \
	echo "== aarch64 (qemu), RNNRS_SIMD=scalar"; \
	RNNRS_SIMD=scalar $(CARGO) test -q --lib --target $(AARCH64) --target-dir target/aarch64 -- kernels:: linalg:: || exit 1

# A manylinux aarch64 wheel cross-built on x86-64 (release profile, into dist/;
# docs/guides/platforms.md), with the same rustc as test-aarch64 and its own
# target dir. With the `ziglang` PyPI package (`pip install ziglang`) zig links
# it against glibc 2.17 symbols: tag manylinux2014 (manylinux_2_17), installs on
# any aarch64 Linux of the last decade. Without it the cross gcc links it against
# Debian 12's glibc 2.36: tag manylinux_2_34 (glibc >= 2.34). Skips with a
# message when a piece is missing. Not part of `make test` or CI (a release
# build takes 20-25 minutes on 2 shared cores).
.PHONY: wheel-aarch64 check-wheel-aarch64
wheel-aarch64:
	@if [ -z "$(AARCH64_RUSTC)" ]; then \
		echo "wheel-aarch64: skipped (no rustc with the $(AARCH64) standard library: rustup target add $(AARCH64), or apt-get install rustc-web libstd-rust-web-dev:arm64)"; exit 0; fi; \
	command -v maturin >/dev/null || { echo "wheel-aarch64: skipped (maturin not found: pip install maturin)"; exit 0; }; \
	export RUSTC="$(AARCH64_RUSTC)" CARGO_TARGET_DIR=target/aarch64-wheel; \
	if $(PYTHON) -m ziglang version >/dev/null 2>&1; then \
		echo "== zig $$($(PYTHON) -m ziglang version): manylinux2014"; \
		maturin build --release --target $(AARCH64) --zig --compatibility manylinux2014 --out dist; \
	else \
		command -v aarch64-linux-gnu-gcc >/dev/null || { echo "wheel-aarch64: skipped (neither the ziglang package (pip install ziglang) nor aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu) found)"; exit 0; }; \
		echo "== aarch64-linux-gnu-gcc (no ziglang package: the tag follows the cross glibc)"; \
		CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
			maturin build --release --target $(AARCH64) --out dist; \
	fi

# The newest aarch64 wheel in dist/ imported by an aarch64 CPython 3.11 under
# qemu-aarch64 (scripts/check_wheel.py: NEON path active, an LSTM forward and
# backward against rnnrs.reference, 1 vs 2 threads; then on the scalar path).
# That Python and NumPy are Debian's arm64 packages and PyPI's aarch64 wheel,
# unpacked into target/aarch64-python by scripts/aarch64_python.sh (nothing is
# installed on the host); pip installs the wheel there for glibc <= 2.36,
# checking its tags. Skips with a message when the wheel, qemu or arm64 apt is
# missing. Not part of `make test` or CI.
AARCH64_PY = target/aarch64-python
check-wheel-aarch64:
	@wheel=$$(ls -t dist/rnnrs-*_aarch64.whl 2>/dev/null | head -n 1); \
	if [ -z "$$wheel" ]; then echo "check-wheel-aarch64: skipped (no aarch64 wheel in dist/: make wheel-aarch64)"; exit 0; fi; \
	command -v qemu-aarch64 >/dev/null || { echo "check-wheel-aarch64: skipped (qemu-aarch64 not found: apt-get install qemu-user)"; exit 0; }; \
	dpkg --print-foreign-architectures 2>/dev/null | grep -qx arm64 || { echo "check-wheel-aarch64: skipped (apt has no arm64 architecture: dpkg --add-architecture arm64 && apt-get update)"; exit 0; }; \
	PYTHON=$(PYTHON) sh scripts/aarch64_python.sh $(AARCH64_PY) || exit 1; \
	echo "== $$wheel under qemu-aarch64"; \
	glibc=$$(for v in $$(seq 17 36); do printf -- '--platform manylinux_2_%s_aarch64 ' $$v; done); \
	rm -rf $(AARCH64_PY)/wheel && $(PYTHON) -m pip install -q --no-deps --only-binary=:all: $$glibc \
		--python-version 3.11 --target $(AARCH64_PY)/wheel "$$wheel" || exit 1; \
	export PYTHONPATH=$(AARCH64_PY)/wheel:$(AARCH64_PY)/site; \
	aarch64_python="qemu-aarch64 -L $(AARCH64_PY)/root $(AARCH64_PY)/root/usr/bin/python3.11 -S"; \
	env -u RNNRS_SIMD $$aarch64_python scripts/check_wheel.py --simd neon || exit 1; \
	echo "== RNNRS_SIMD=scalar"; \
	RNNRS_SIMD=scalar $$aarch64_python scripts/check_wheel.py --simd scalar
