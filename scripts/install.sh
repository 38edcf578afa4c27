#!/usr/bin/env bash
# install.sh — install (or upgrade) fitmirror's agent on a Raspberry Pi OS / Debian bookworm mirror.
#   sudo scripts/install.sh [--device-id ID] [--hub-url URL]
#   sudo scripts/install.sh --uninstall
# Idempotent. Keeps /etc/fitmirror and /var/lib/mirror-agent across upgrades and uninstall.
set -euo pipefail
cd "$(dirname "$0")/.."
device_id="" hub_url="" uninstall=0
while [ $# -gt 0 ]; do
	case "$1" in
	--device-id) device_id=$2; shift 2 ;;
	--hub-url) hub_url=$2; shift 2 ;;
	--uninstall) uninstall=1; shift ;;
	*) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }

if [ $uninstall -eq 1 ]; then
	systemctl disable --now mirror-agent.service mirror-kiosk.service 2>/dev/null || true
	rm -f /usr/bin/mirror-agent /usr/lib/fitmirror/kiosk.sh /lib/systemd/system/mirror-agent.service /lib/systemd/system/mirror-kiosk.service
	systemctl daemon-reload
	echo "install.sh: removed the agent; kept /etc/fitmirror and /var/lib/mirror-agent"
	exit 0
fi

if [ -n "$device_id" ] && ! [[ "$device_id" =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]]; then
	echo "install.sh: --device-id $device_id must match ^[a-z0-9][a-z0-9-]{0,62}\$" >&2; exit 2
fi

bash scripts/setup.sh
echo "install.sh: building mirror-agent"
go build -o /usr/bin/mirror-agent.new ./cmd/mirror-agent
mv /usr/bin/mirror-agent.new /usr/bin/mirror-agent

if ! getent passwd mirror >/dev/null; then
	adduser --system --group --home /var/lib/mirror-agent --no-create-home --gecos "fitmirror agent" mirror
fi
for g in video gpio i2c spi render; do
	if getent group "$g" >/dev/null; then adduser mirror "$g" >/dev/null; fi
done

install -d -m 0755 /etc/fitmirror
if [ ! -f /etc/fitmirror/mirror-agent.yaml ]; then
	install -m 0644 scripts/deb/mirror-agent.yaml /etc/fitmirror/mirror-agent.yaml
	if [ -n "$device_id" ]; then
		printf '\ndevice:\n  id: %s\n' "$device_id" >> /etc/fitmirror/mirror-agent.yaml
	fi
	if [ -n "$hub_url" ]; then
		printf '# hub: %s (set cloud.provider: hub and cloud.token once the hub has issued this device a token)\n' "$hub_url" >> /etc/fitmirror/mirror-agent.yaml
	fi
fi
/usr/bin/mirror-agent config --config /etc/fitmirror/mirror-agent.yaml >/dev/null

install -m 0644 systemd/mirror-agent.service /lib/systemd/system/mirror-agent.service
# The kiosk: Chromium under the cage compositor on the panel, as its own user.
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium cage >/dev/null
if ! getent passwd kiosk >/dev/null; then
	adduser --system --group --home /var/lib/kiosk --gecos "fitmirror kiosk" kiosk
fi
for g in video render input; do
	if getent group "$g" >/dev/null; then adduser kiosk "$g" >/dev/null; fi
done
# The agent reaches the kiosk's Wayland socket (/run/mirror-kiosk) to power the panel down at night.
adduser mirror kiosk >/dev/null
install -D -m 0755 scripts/kiosk.sh /usr/lib/fitmirror/kiosk.sh
install -m 0644 systemd/mirror-kiosk.service /lib/systemd/system/mirror-kiosk.service
systemctl daemon-reload
systemctl enable mirror-agent.service mirror-kiosk.service
systemctl restart mirror-agent.service
echo "install.sh: mirror-agent installed and started. To check every part (it needs the camera and ports):"
echo "  sudo systemctl stop mirror-agent && sudo -u mirror mirror-agent check --config /etc/fitmirror/mirror-agent.yaml; sudo systemctl start mirror-agent"
