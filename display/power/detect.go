package power

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Methods are the panel controls, in the order "auto" tries them:
//
//   - cec: HDMI-CEC puts a TV or monitor in its own standby; it needs no session, and it
//     came first before there were other methods.
//   - backlight: a panel with a backlight in /sys (the official DSI displays) is switched at
//     its light source; no session needed; chosen only when bl_power is writable.
//   - wlopm: the wlroots output-power protocol sets the outputs' power mode and keeps their
//     configuration (labwc); chosen only when the compositor answers it.
//   - wlr-randr: the wlroots output-management protocol disables the outputs, and the monitor
//     sleeps for lack of signal (labwc, wayfire); chosen only when the compositor answers it.
//     Debian's cage 0.1.4 implements neither protocol, so under the kiosk's cage both are
//     passed over.
//   - dpms: xset, for an X session.
//   - ddc: DDC/CI through ddcutil works under any session, cage included, on a monitor that
//     answers it; last because its probe reads the I²C bus, which takes a second or more.
var Methods = []string{"cec", "backlight", "wlopm", "wlr-randr", "dpms", "ddc"}

// DetectOptions are what Detect looks at besides the tools on $PATH.
type DetectOptions struct {
	// Session is the graphical session; nil means SessionFrom(SessionFile).
	Session *Session
	// SessionFile is the kiosk's session file; "" means KioskSessionFile.
	SessionFile string
	// Sys is the /sys tree ("" means /sys).
	Sys string
	// ProbeTimeout bounds each probe of a compositor or monitor; 0 means 10 s.
	ProbeTimeout time.Duration
	// Skipped, when set, is told each method "auto" passed over and why.
	Skipped func(method string, err error)
}

// Detect is DetectWith(context.Background(), method, DetectOptions{}).
func Detect(method string) (Panel, error) {
	return DetectWith(context.Background(), method, DetectOptions{})
}

// DetectWith returns the panel control named by method (one of Methods), or for "auto" (and
// "") the first of Methods this machine has and that answers. It returns nil, nil for "none",
// and for "auto" when there is none: the panel then stays on. A named method whose tool,
// session or device is missing is an error.
func DetectWith(ctx context.Context, method string, o DetectOptions) (Panel, error) {
	if o.Session == nil {
		s, err := SessionFrom(o.SessionFile)
		if err != nil && method != "auto" && method != "" {
			return nil, err
		}
		o.Session = &s
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 10 * time.Second
	}
	switch method {
	case "none":
		return nil, nil
	case "", "auto":
		for _, m := range Methods {
			p, err := detectOne(ctx, m, o)
			if err == nil {
				return p, nil
			}
			if o.Skipped != nil {
				o.Skipped(m, err)
			}
		}
		return nil, nil
	}
	if err := CheckMethod(method); err != nil {
		return nil, err
	}
	return detectOne(ctx, method, o)
}

func detectOne(ctx context.Context, method string, o DetectOptions) (Panel, error) {
	look := func(tool string) (string, error) {
		p, err := exec.LookPath(tool)
		if err != nil {
			return "", fmt.Errorf("power: %s: %w", method, err)
		}
		return p, nil
	}
	probe := func(p Panel) (Panel, error) {
		pctx, cancel := context.WithTimeout(ctx, o.ProbeTimeout)
		defer cancel()
		if _, err := Probe(pctx, p); err != nil {
			return nil, err
		}
		return p, nil
	}
	wayland := func(tool string) (string, error) {
		if o.Session.Wayland == "" {
			return "", fmt.Errorf("power: %s: no Wayland session ($WAYLAND_DISPLAY is empty and %s has none)", method, KioskSessionFile)
		}
		return look(tool)
	}
	switch method {
	case "cec":
		p, err := look("cec-client")
		return CEC{Path: p}, err
	case "backlight":
		files, err := Backlights(o.Sys)
		if err == nil && len(files) == 0 {
			err = errors.New("power: backlight: no /sys/class/backlight/*/bl_power")
		}
		if err != nil {
			return nil, err
		}
		return probe(Backlight{Files: files})
	case "wlopm":
		p, err := wayland("wlopm")
		if err != nil {
			return nil, err
		}
		return probe(Wlopm{Path: p, Session: *o.Session})
	case "wlr-randr":
		p, err := wayland("wlr-randr")
		if err != nil {
			return nil, err
		}
		return probe(WlrRandr{Path: p, Session: *o.Session})
	case "dpms":
		p, err := look("xset")
		if err == nil && o.Session.X == "" {
			err = errors.New("power: dpms: no X display ($DISPLAY is empty)")
		}
		return DPMS{Path: p, Display: o.Session.X}, err
	default: // ddc
		p, err := look("ddcutil")
		if err != nil {
			return nil, err
		}
		return probe(DDC{Path: p})
	}
}

// Name is the method a panel control is: one of Methods, or its Go type.
func Name(p Panel) string {
	switch p.(type) {
	case CEC:
		return "cec"
	case Backlight:
		return "backlight"
	case Wlopm:
		return "wlopm"
	case WlrRandr:
		return "wlr-randr"
	case DPMS:
		return "dpms"
	case DDC:
		return "ddc"
	case nil:
		return "none"
	}
	return fmt.Sprintf("%T", p)
}

// Probe asks the panel control whether it answers, without switching the panel, and returns
// what it said: the power status over CEC, the X server's DPMS state, the compositor's
// outputs, the monitor's power mode over DDC/CI, the backlights' state.
func Probe(ctx context.Context, p Panel) (string, error) {
	switch p := p.(type) {
	case CEC:
		out, err := outputIn(ctx, "cec", strings.NewReader("pow 0\n"), p.Path, "-s", "-d", "1")
		return lastLine(out), err
	case DPMS:
		out, err := outputIn(ctx, "dpms", nil, p.Path, p.args("q")...)
		return dpmsState(out), err
	case WlrRandr:
		names, err := p.Outputs(ctx)
		return "outputs " + strings.Join(names, ", "), err
	case Wlopm:
		out, err := output(ctx, "wlopm", p.Session.env(), p.Path)
		return strings.Join(strings.Fields(out), " "), err
	case DDC:
		return p.Probe(ctx)
	case Backlight:
		return p.Probe(ctx)
	}
	return "", fmt.Errorf("power: %T cannot be probed", p)
}

func outputIn(ctx context.Context, what string, stdin *strings.Reader, path string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("power: %s: %s %s: %w: %s", what, path, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// dpmsState picks "Monitor is On" (or the like) out of xset q.
func dpmsState(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "Monitor is") {
			return l
		}
	}
	return "X display answers"
}

// Redetect is a Panel that detects its method at every switch (DetectWith), so that it finds a
// session that starts after the agent: the kiosk's compositor starts once the agent's page
// answers, and its session file appears only then. With "auto" and no method that works, a
// switch does nothing (the panel stays on) and tells Skipped why; a named method that does
// not work is an error, which the Policy retries.
type Redetect struct {
	Method  string
	Options DetectOptions
}

// SetPower detects the method and switches the panel with it.
func (r Redetect) SetPower(ctx context.Context, on bool) error {
	p, err := DetectWith(ctx, r.Method, r.Options)
	if err != nil || p == nil {
		return err
	}
	return p.SetPower(ctx, on)
}

// CheckMethod says whether method is one DetectWith knows.
func CheckMethod(method string) error {
	switch method {
	case "", "auto", "none":
		return nil
	}
	for _, m := range Methods {
		if m == method {
			return nil
		}
	}
	return fmt.Errorf("power: method %q: must be auto, %s or none", method, strings.Join(Methods, ", "))
}
