#!/bin/sh
# desktop-session.sh — let mirror-agent reach the panel's compositor in a desktop session.
#
# The kiosk unit (systemd/mirror-kiosk.service) runs its own cage and tells the agent where it
# is. On a mirror that shows the kiosk page in a desktop session instead (Raspberry Pi OS
# bookworm's labwc or wayfire, logged in automatically), the compositor's socket is in
# /run/user/UID, which only that user may enter; the agent, a system service running as the
# user `mirror`, cannot switch the panel's power through it (display/power: wlopm, wlr-randr).
#
# Run this from the session's autostart (labwc: ~/.config/labwc/autostart; wayfire: the
# [autostart] section of ~/.config/wayfire.ini). It
#   - grants the agent's user search on $XDG_RUNTIME_DIR and read-write on the compositor's
#     socket, with POSIX ACLs (package acl), and nothing else of the runtime directory;
#   - writes $XDG_RUNTIME_DIR/fitmirror-session.env (WAYLAND_DISPLAY as the socket's absolute
#     path), which the agent finds by itself when there is no kiosk session file.
# The agent's unit hides /run/user (ProtectHome=yes): docs/hardware.md, "A desktop session",
# gives the drop-in that shows it this one runtime directory, read-only.
#
# Environment: FITMIRROR_AGENT_USER, the agent's user (default mirror).
set -eu

AGENT="${FITMIRROR_AGENT_USER:-mirror}"
RUNTIME="${XDG_RUNTIME_DIR:-}"
if [ -z "$RUNTIME" ] || [ ! -d "$RUNTIME" ]; then
	echo "desktop-session: no \$XDG_RUNTIME_DIR: run me from the desktop session's autostart" >&2; exit 1
fi
case "${WAYLAND_DISPLAY:-}" in
	"") echo "desktop-session: no \$WAYLAND_DISPLAY: run me from a Wayland session (labwc, wayfire)" >&2; exit 1 ;;
	/*) SOCKET="$WAYLAND_DISPLAY" ;;
	*) SOCKET="$RUNTIME/$WAYLAND_DISPLAY" ;;
esac
if [ ! -S "$SOCKET" ]; then
	echo "desktop-session: $SOCKET is not the compositor's socket" >&2; exit 1
fi
if ! command -v setfacl >/dev/null 2>&1; then
	echo "desktop-session: no setfacl (apt-get install acl)" >&2; exit 1
fi
if ! id -u "$AGENT" >/dev/null 2>&1; then
	echo "desktop-session: no user $AGENT (is fitmirror-agent installed? FITMIRROR_AGENT_USER names another)" >&2; exit 1
fi

FILE="$RUNTIME/fitmirror-session.env"
{
	echo "# written by desktop-session.sh for mirror-agent's panel power"
	echo "WAYLAND_DISPLAY=$SOCKET"
} > "$FILE.new"
mv "$FILE.new" "$FILE"
setfacl -m "u:$AGENT:x" "$RUNTIME"
setfacl -m "u:$AGENT:rw" "$SOCKET"
setfacl -m "u:$AGENT:r" "$FILE"
echo "desktop-session: $AGENT may reach $SOCKET ($FILE)"
