#!/usr/bin/env bash
# demo-cloud.sh — the whole WeChat loop on one machine, no Official Account: mirror-cloud in sim
# mode (its own WeChat stand-in and MQTT broker) and mirror-agent with the hub provider.
# Run by `make demo-cloud`. Simulate a shopper's scan with: scripts/demo-cloud.sh scan
set -euo pipefail
cd "$(dirname "$0")/.."
hub_state=state/hub
hub_http=127.0.0.1:8090
hub_mqtt=127.0.0.1:1883
kiosk=127.0.0.1:${PORT:-8080} # make demo-cloud PORT=…

if [ "${1:-}" = "scan" ]; then
	# The QR on the mirror right now, from the kiosk's event stream; the simulator pushes a
	# signed subscribe event to the hub for it, as WeChat would.
	qr=$( { timeout 3 curl -sN "http://$kiosk/events" || true; } | sed -n 's/^data: //p' | head -n 1 |
		python3 -c 'import json,sys; d=sys.stdin.read().strip(); print(json.loads(d).get("qr",{}).get("content","") if d else "")')
	if [ -z "$qr" ]; then echo "demo-cloud: no QR code on the mirror right now" >&2; exit 1; fi
	curl -sS -d "{\"qr\":\"$qr\",\"openid\":\"o_demo_shopper\"}" "http://$hub_http/sim/scan"
	echo
	exit 0
fi

mkdir -p "$hub_state"
creds="$hub_state/m1.json"
if [ ! -s "$creds" ]; then
	bin/mirror-cloud device add m1 --set state_dir="$hub_state" > "$creds"
fi
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$creds")
mqtt_pw=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt_password"])' "$creds")

bin/mirror-cloud serve --set state_dir="$hub_state" --set listen="$hub_http" --set mqtt.embedded.listen="$hub_mqtt" \
	--set mqtt.embedded.ops_password=demo-ops &
hub=$!
trap 'kill $hub 2>/dev/null; wait $hub 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf "http://$hub_http/healthz" >/dev/null && break; sleep 0.2; done

cat <<MSG

  fitmirror demo with the WeChat hub (sim mode)
    kiosk:            http://$kiosk/
    hub:              http://$hub_http/   (docs/hub.md)
    simulate a scan:  PORT=${PORT:-8080} scripts/demo-cloud.sh scan   (while a QR code is on the mirror)
    the fleet view:   bin/mirrorctl --broker tcp://$hub_mqtt --password demo-ops ls   (or: events -f)
  Ctrl-C stops both.

MSG
bin/mirror-agent run --set display.listen="$kiosk" --set device.id=m1 --set cloud.provider=hub --set cloud.hub_url="http://$hub_http" \
	--set cloud.token="$token" --set mqtt.url="tcp://$hub_mqtt" --set mqtt.password="$mqtt_pw"
