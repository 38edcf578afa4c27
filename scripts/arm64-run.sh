#!/usr/bin/env bash
# arm64-run.sh — run an arm64 (aarch64) program on this amd64 machine under qemu user emulation,
# with the arm64 sysroot (scripts/arm64-sysroot.sh) as its root for libraries and the loader.
#   scripts/arm64-run.sh bin/linux-arm64/mirror-agent replay clip.avi
#   go test -exec "$PWD/scripts/arm64-run.sh" ./...   (what make test-arm64 runs)
# Programs it starts that are arm64 too (a test's helper binary, a re-exec of itself) are run
# through this script as well when they go through internal/testexec; host programs (mosquitto,
# chromium, zbarimg) run natively.
set -euo pipefail
if [ $# -eq 0 ]; then
	echo "usage: scripts/arm64-run.sh PROGRAM [ARGS...]" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
command -v qemu-aarch64-static >/dev/null || { echo "arm64-run: qemu-aarch64-static missing (scripts/setup.sh installs qemu-user-static)" >&2; exit 1; }
sysroot=${FITMIRROR_ARM64_SYSROOT:-}
if [ -z "$sysroot" ]; then
	sysroot=$("$here/arm64-sysroot.sh" --path 2>/dev/null) || sysroot=$("$here/arm64-sysroot.sh")
fi
# Programs this one starts through internal/testexec come back here, with the sysroot found.
export FITMIRROR_ARM64_SYSROOT="$sysroot"
export FITMIRROR_TEST_EXEC="$here/arm64-run.sh"
# GStreamer scans its plugins in a helper process it would start as an arm64 program; scan in
# this process instead.
export GST_REGISTRY_FORK=no
exec qemu-aarch64-static -L "$sysroot" "$@"
