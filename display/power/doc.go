// Package power is the mirror's screen power policy.
//
// Behind two-way glass an idle screen is a black frame, never a sleeping monitor: panels take
// 4–15 s to wake from DPMS standby, and a shopper does not wait. So during opening hours the
// panel stays powered (and the X screen saver and DPMS are switched off); outside them Policy
// powers the panel down, through HDMI-CEC (cec-client), a DSI backlight (/sys), the wlroots
// Wayland protocols (wlopm, wlr-randr), DPMS (xset) or DDC/CI (ddcutil), and up again before
// opening.
//
// Hours are written like "09:00-21:30" (every day) or "mon-fri 09:00-21:00; sat-sun 10:00-22:00";
// a span may cross midnight ("fri 18:00-02:00" closes Saturday 02:00). No hours: always open.
//
// The panel controls shell out only to tools that exist: Detect takes the first of Methods that
// this machine has and that answers, and returns nil when there is none, in which case the
// panel simply stays on. The agent, a system service, reaches the kiosk's Wayland compositor
// through the session file the kiosk writes (KioskSessionFile).
package power
