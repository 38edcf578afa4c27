#!/usr/bin/env bash
# kiosk.sh — show the mirror-agent's kiosk page full-screen in Chromium, locked down.
#
# Runs inside a graphical session when there is one ($WAYLAND_DISPLAY or $DISPLAY), otherwise
# starts itself under cage (Debian package `cage`, a Wayland compositor that shows one
# application full-screen: no desktop, no panels, no way out). systemd/mirror-kiosk.service runs it
# on tty1 as the unprivileged user `kiosk`.
#
# Environment:
#   KIOSK_URL      the page; default http://127.0.0.1:8080/ (it must stay on loopback: the agent
#                  serves photos there)
#   CHROMIUM       the browser; default chromium, then chromium-browser (Raspberry Pi OS)
#   KIOSK_DRY_RUN  when 1, print the browser command instead of running it (tests)
set -euo pipefail

URL="${KIOSK_URL:-http://127.0.0.1:8080/}"
case "$URL" in
	http://127.0.0.1:*/* | http://localhost:*/* | "http://[::1]:"*/*) ;;
	*) echo "kiosk: KIOSK_URL must be the agent's loopback page (http://127.0.0.1:PORT/), got $URL" >&2; exit 2 ;;
esac

CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$CHROMIUM" ]; then
	echo "kiosk: no chromium (apt-get install chromium)" >&2; exit 1
fi

# No graphical session: become one under cage.
if [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${DISPLAY:-}" ] && [ "${KIOSK_DRY_RUN:-}" != 1 ]; then
	if ! command -v cage >/dev/null 2>&1; then
		echo "kiosk: no display (\$WAYLAND_DISPLAY, \$DISPLAY) and no cage to make one (apt-get install cage)" >&2; exit 1
	fi
	# cage's socket goes in the unit's runtime directory (group kiosk, which the agent's user
	# joins), not in /run/user/UID, which only this user can enter: the agent switches the
	# panel's power through it (display/power).
	# umask 0007: the socket is group read-write (connecting needs write access).
	if [ -n "${RUNTIME_DIRECTORY:-}" ]; then export XDG_RUNTIME_DIR="$RUNTIME_DIRECTORY"; umask 0007; fi
	exec cage -s -- "$0" "$@"
fi

# Tell the agent which session the panel shows: $RUNTIME_DIRECTORY/session.env, one KEY=VALUE a
# line, WAYLAND_DISPLAY as the socket's absolute path (or, with X and no Wayland, DISPLAY).
# cage also starts Xwayland and sets DISPLAY, but Xwayland has no DPMS: Wayland comes first.
if [ -n "${RUNTIME_DIRECTORY:-}" ] && [ -n "${WAYLAND_DISPLAY:-}${DISPLAY:-}" ]; then
	{
		if [ -n "${WAYLAND_DISPLAY:-}" ]; then
			case "$WAYLAND_DISPLAY" in
				/*) echo "WAYLAND_DISPLAY=$WAYLAND_DISPLAY" ;;
				*) echo "WAYLAND_DISPLAY=${XDG_RUNTIME_DIR:-$RUNTIME_DIRECTORY}/$WAYLAND_DISPLAY" ;;
			esac
		else
			echo "DISPLAY=$DISPLAY"
		fi
	} > "$RUNTIME_DIRECTORY/session.env.new"
	mv "$RUNTIME_DIRECTORY/session.env.new" "$RUNTIME_DIRECTORY/session.env"
fi

# A fresh profile on every start, in the service's runtime directory (removed when it stops):
# nothing a previous run cached or remembered carries over.
BASE="${RUNTIME_DIRECTORY:-${XDG_RUNTIME_DIR:-/tmp}}"
PROFILE="$(mktemp -d "$BASE/kiosk-profile.XXXXXX")"

FLAGS=(
	--kiosk                               # full-screen, no address bar, no way to leave
	--app="$URL"
	--user-data-dir="$PROFILE"
	--incognito                           # no history, cookies or cache on disk
	--no-first-run --no-default-browser-check
	--noerrdialogs --disable-infobars     # no bubbles or bars over the mirror
	--disable-session-crashed-bubble      # no "restore pages?" after a power cut
	--hide-crash-restore-bubble
	--disable-translate
	--disable-features=Translate,TranslateUI,MediaRouter,OptimizationHints,HardwareMediaKeyHandling
	--disable-pinch                       # a shopper's fingers on a touch frame cannot zoom
	--overscroll-history-navigation=0     # nor swipe back
	--disable-background-networking       # the page is local; nothing else goes out
	--disable-component-update --disable-sync --disable-default-apps --disable-extensions
	--check-for-update-interval=31536000
	--password-store=basic                # no keyring prompt
	--autoplay-policy=no-user-gesture-required
	--lang=zh-CN
	--force-dark-mode                     # any browser UI that shows at all is dark
	--hide-scrollbars
)
# Developer tools and other URLs are closed by Chromium's managed policy, not by flags: install
# /etc/chromium/policies/managed/fitmirror.json with {"DeveloperToolsAvailability": 2,
# "URLBlocklist": ["*"], "URLAllowlist": ["http://127.0.0.1:8080"]}.
if [ -n "${WAYLAND_DISPLAY:-}" ]; then
	FLAGS+=(--ozone-platform=wayland)
fi

# Wait up to 60 s for the agent so the first load is the page, not an error page (the page
# reconnects by itself once loaded, so a later agent restart needs nothing from here).
if [ "${KIOSK_DRY_RUN:-}" != 1 ]; then
	hostport="${URL#http://}"; hostport="${hostport%%/*}"
	host="${hostport%:*}"; port="${hostport##*:}"; host="${host#[}"; host="${host%]}"
	for _ in $(seq 120); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then break; fi
		sleep 0.5
	done
fi

if [ "${KIOSK_DRY_RUN:-}" = 1 ]; then
	printf '%s\n' "$CHROMIUM" "${FLAGS[@]}"
	rmdir "$PROFILE"
	exit 0
fi
exec "$CHROMIUM" "${FLAGS[@]}"
