#!/bin/sh
# An aarch64 CPython 3.11 and NumPy unpacked into DIR (default target/aarch64-python), for
# running the aarch64 wheel under qemu-aarch64 (`make check-wheel-aarch64`). Nothing is
# installed on the host: Debian's arm64 packages are fetched with `apt-get download` (needs
# `dpkg --add-architecture arm64 && apt-get update` once) and unpacked with `dpkg-deb -x` into
# DIR/root, NumPy's manylinux aarch64 wheel from PyPI into DIR/site. Then
#   PYTHONPATH=DIR/site qemu-aarch64 -L DIR/root DIR/root/usr/bin/python3.11 -S ...
# The root carries its own glibc (Debian 12's current libc6:arm64): the older glibc of the
# cross toolchain (libc6-arm64-cross 2.36-8cross1 in /usr/aarch64-linux-gnu) hangs qemu 7.2 in
# its first pthread_create, this one does not.
set -eu
dir=${1:-target/aarch64-python}
python=${PYTHON:-python3}
debs="libc6 libgcc-s1 zlib1g libexpat1 libffi8 python3.11-minimal libpython3.11-minimal libpython3.11-stdlib"

mkdir -p "$dir/debs" "$dir/root" "$dir/site"
cd "$dir"
if [ ! -x root/usr/bin/python3.11 ]; then
	(cd debs && apt-get download $(for p in $debs; do printf '%s:arm64 ' "$p"; done))
	for deb in debs/*.deb; do dpkg-deb -x "$deb" root; done
fi
if [ ! -d site/numpy ]; then
	# numpy 2.3+ needs glibc 2.28 wheels; manylinux2014 picks the newest that runs on glibc 2.17.
	"$python" -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_aarch64 \
		--python-version 3.11 -d wheels numpy
	"$python" -m zipfile -e wheels/numpy-*.whl site
fi
echo "aarch64 python: $dir/root/usr/bin/python3.11, numpy: $(ls wheels)"
