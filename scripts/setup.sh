#!/usr/bin/env bash
# setup.sh — install what fitmirror needs on Debian bookworm (or Raspberry Pi OS bookworm).
# Idempotent: installs only what is missing, says what it installs, then fetches Go modules.
# Run as root (or with sudo available).
set -euo pipefail

# Why each package is here:
#   libopencv-dev     OpenCV 4.6 headers and libraries for gocv (device/camera, device/vision)
#   opencv-data       Haar/LBP cascades in /usr/share/opencv4 (presence detection)
#   pkg-config gcc g++ cgo build of gocv
#   mosquitto, mosquitto-clients   real broker for the fleet integration tests, mosquitto_sub for debugging
#   chromium          headless browser for the kiosk page tests, and the kiosk itself on a mirror
#   zbar-tools        zbarimg decodes QR codes from screenshots in tests
#   fonts-wqy-microhei  CJK font so the kiosk and framebuffer render Chinese text
#   ca-certificates   TLS to the hub and to WeChat
#   sqlite3           inspecting the state database by hand (the code uses pure-Go SQLite)
#   systemd           systemd-analyze verify/security on the units (dpkg-deb, from dpkg, inspects the .deb)
PKGS=(libopencv-dev opencv-data pkg-config gcc g++ mosquitto mosquitto-clients chromium systemd
      zbar-tools fonts-wqy-microhei ca-certificates sqlite3)
#   postgresql-15     the hub's shared database for replicas: tests start their own server
#                     (initdb/pg_ctl as the postgres user, cloud/hub/pgtest); the packaged
#                     cluster it creates is not used and may be stopped
PKGS+=(postgresql-15)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
		echo "setup: not root and no sudo; install these by hand: ${PKGS[*]}" >&2; exit 1
	fi
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	# Refresh the package lists when they are missing or older than a day.
	if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
		echo "setup: apt-get update"
		$SUDO apt-get update -q
	fi
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	echo "setup: system packages present"
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH="$PATH:/usr/local/go/bin"
fi
if ! command -v go >/dev/null 2>&1; then
	echo "setup: Go is not installed (need Go 1.23 or newer)" >&2; exit 1
fi

cd "$(dirname "$0")/.."
if [ -f go.mod ]; then
	echo "setup: go mod download"
	go mod download
fi
echo "setup: done"
