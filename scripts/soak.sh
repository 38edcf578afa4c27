#!/usr/bin/env bash
# soak.sh — run mirror-agent on the demo clip (looping) for a while and record its RSS once a
# minute, to show memory stays flat. Usage: scripts/soak.sh [MINUTES] [OUT.csv]
# The report in docs/benchmarks.md compares RSS at 5 minutes with RSS at the end.
set -euo pipefail
minutes=${1:-60}
out=${2:-soak.csv}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
go build -o "$work/mirror-agent" ./cmd/mirror-agent
clip=state/demo/walk-in.avi
[ -f "$clip" ] || go run ./scripts/democlip -out "$clip"
"$work/mirror-agent" run --set state_dir="$work/state" --set camera.source="$clip" \
	--set display.listen=127.0.0.1:0 --set cloud.local.listen=127.0.0.1:0 --set log.level=warn \
	2>"$work/agent.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
echo "minute,rss_kb,cpu_ticks" > "$out"
for ((m = 0; m <= minutes; m++)); do
	rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
	ticks=$(awk '{print $14 + $15}' /proc/$pid/stat)
	echo "$m,$rss,$ticks" >> "$out"
	[ "$m" -lt "$minutes" ] && sleep 60
done
echo "soak: $(sed -n '7p' "$out" | cut -d, -f2) kB at 5 min, $(tail -1 "$out" | cut -d, -f2) kB at $minutes min ($out)"
