// Package power is the mirror's screen power policy.
//
// Behind two-way glass an idle screen is a black frame, never a sleeping monitor: panels take
// 4–15 s to wake from DPMS standby, and a shopper does not wait. So during opening hours the
// panel stays powered (and the X screen saver and DPMS are switched off); outside them Policy
// powers the panel down, through HDMI-CEC (cec-client) or DPMS (xset), and up again before
// opening.
//
// Hours are written like "09:00-21:30" (every day) or "mon-fri 09:00-21:00; sat-sun 10:00-22:00";
// a span may cross midnight ("fri 18:00-02:00" closes Saturday 02:00). No hours: always open.
//
// The panel controls shell out only to tools that exist: Detect picks cec-client, then xset (with
// $DISPLAY), and returns nil when there is neither, in which case the panel simply stays on.
package power
