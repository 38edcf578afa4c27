#!/usr/bin/env bash
# arm64-go.sh — the go command, cross-compiling for arm64 (Raspberry Pi 4/5) with cgo against the
# arm64 sysroot (scripts/arm64-sysroot.sh). The cross environment is set for this one go command
# only, so nothing else (nfpm, other go run) picks it up.
#   scripts/arm64-go.sh build -o bin/linux-arm64/ ./cmd/...
#   scripts/arm64-go.sh test -exec "$PWD/scripts/arm64-run.sh" ./...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
sysroot=$("$here/arm64-sysroot.sh")
for tool in aarch64-linux-gnu-gcc aarch64-linux-gnu-g++; do
	command -v "$tool" >/dev/null || { echo "arm64-go: $tool missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
lib=$sysroot/usr/lib/aarch64-linux-gnu
flags="--sysroot=$sysroot"
exec env CGO_ENABLED=1 GOOS=linux GOARCH=arm64 \
	CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ \
	PKG_CONFIG_SYSROOT_DIR="$sysroot" \
	PKG_CONFIG_LIBDIR="$lib/pkgconfig:$sysroot/usr/share/pkgconfig" \
	CGO_CFLAGS="$flags -O2 -g" CGO_CXXFLAGS="$flags -O2 -g" \
	CGO_LDFLAGS="$flags -Wl,-rpath-link,$lib -Wl,-rpath-link,$sysroot/lib/aarch64-linux-gnu -Wl,-rpath-link,$lib/blas -Wl,-rpath-link,$lib/lapack -O2 -g" \
	"${GO:-go}" "$@"
