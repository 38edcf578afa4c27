package power

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// KioskSessionFile is where the kiosk (scripts/kiosk.sh under systemd/mirror-kiosk.service)
// writes the graphical session it runs in, one KEY=VALUE a line: WAYLAND_DISPLAY as the
// absolute path of the compositor's socket, or DISPLAY for X. The agent, a system service
// with no session of its own, reads it to reach the panel's compositor.
const KioskSessionFile = "/run/mirror-kiosk/session.env"

// DesktopSessionGlob is where scripts/desktop-session.sh, started by a desktop session's
// autostart (labwc, wayfire), writes the same file in that user's runtime directory, after
// letting the agent's user reach it. The agent reads the first one when there is no kiosk
// session file.
var DesktopSessionGlob = "/run/user/*/fitmirror-session.env"

// Session is the graphical session the panel tools talk to.
type Session struct {
	// Wayland is WAYLAND_DISPLAY: a socket name in RuntimeDir, or an absolute socket path.
	Wayland string
	// RuntimeDir is XDG_RUNTIME_DIR, needed only when Wayland is a bare name.
	RuntimeDir string
	// X is the X display, like ":0".
	X string
}

// SessionFrom returns the session of the environment ($WAYLAND_DISPLAY, $XDG_RUNTIME_DIR,
// $DISPLAY) and fills what it lacks from the kiosk's session file (when file is "":
// KioskSessionFile, else the first of DesktopSessionGlob). A missing file is no error: there
// is then no kiosk session to reach.
func SessionFrom(file string) (Session, error) {
	s := Session{Wayland: os.Getenv("WAYLAND_DISPLAY"), RuntimeDir: os.Getenv("XDG_RUNTIME_DIR"), X: os.Getenv("DISPLAY")}
	if file == "" {
		file = KioskSessionFile
		if _, err := os.Stat(file); os.IsNotExist(err) {
			if desktop, _ := filepath.Glob(DesktopSessionGlob); len(desktop) > 0 {
				file = desktop[0]
			}
		}
	}
	raw, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("power: kiosk session: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return s, fmt.Errorf("power: kiosk session %s:%d: %q is not KEY=VALUE", file, n, line)
		}
		switch k {
		case "WAYLAND_DISPLAY":
			if s.Wayland == "" {
				if !filepath.IsAbs(v) {
					return s, fmt.Errorf("power: kiosk session %s:%d: WAYLAND_DISPLAY %q must be the socket's absolute path", file, n, v)
				}
				s.Wayland = v
			}
		case "DISPLAY":
			if s.X == "" {
				s.X = v
			}
		}
	}
	return s, nil
}

// env is the environment a Wayland tool runs in: this process's, with the session's
// WAYLAND_DISPLAY and XDG_RUNTIME_DIR.
func (s Session) env() []string {
	env := os.Environ()
	env = append(env, "WAYLAND_DISPLAY="+s.Wayland)
	if s.RuntimeDir != "" {
		env = append(env, "XDG_RUNTIME_DIR="+s.RuntimeDir)
	}
	return env
}

// WlrRandr switches the panel's outputs with wlr-randr (Debian bookworm's wlr-randr), through
// the wlroots output-management protocol: off disables every output, on enables them again.
// labwc and wayfire (Raspberry Pi OS bookworm's desktops) implement the protocol; Debian's
// cage 0.1.4 does not, and wlr-randr then fails with "compositor doesn't support
// wlr-output-management-unstable-v1".
type WlrRandr struct {
	// Path is wlr-randr's path.
	Path string
	// Session is the compositor to talk to.
	Session Session
}

// Outputs lists the compositor's output names (wlr-randr with no arguments).
func (w WlrRandr) Outputs(ctx context.Context) ([]string, error) {
	out, err := output(ctx, "wlr-randr", w.Session.env(), w.Path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue // an output's details are indented under its name
		}
		names = append(names, strings.Fields(line)[0])
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("power: wlr-randr: %s lists no outputs", w.Path)
	}
	return names, nil
}

// SetPower runs wlr-randr --output NAME --on (or --off) for every output.
func (w WlrRandr) SetPower(ctx context.Context, on bool) error {
	names, err := w.Outputs(ctx)
	if err != nil {
		return err
	}
	args := []string{}
	for _, n := range names {
		args = append(args, "--output", n, onOff(on))
	}
	_, err = output(ctx, "wlr-randr", w.Session.env(), w.Path, args...)
	return err
}

// Wlopm switches the panel's outputs with wlopm, through the wlroots output-power-management
// protocol: the outputs stay configured and only their power mode changes, as DPMS does.
// wlopm is not a Debian bookworm package; labwc implements the protocol, cage 0.1.4 does not.
type Wlopm struct {
	// Path is wlopm's path.
	Path string
	// Session is the compositor to talk to.
	Session Session
}

// SetPower runs wlopm --on '*' (or --off '*').
func (w Wlopm) SetPower(ctx context.Context, on bool) error {
	_, err := output(ctx, "wlopm", w.Session.env(), w.Path, onOff(on), "*")
	return err
}

func onOff(on bool) string {
	if on {
		return "--on"
	}
	return "--off"
}

// output runs a tool in env and returns its standard output; an error names the tool, its
// arguments and everything it printed.
func output(ctx context.Context, what string, env []string, path string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("power: %s: %s %s: %w: %s", what, path, strings.Join(args, " "), err,
			strings.TrimSpace(errOut.String()+" "+out.String()))
	}
	return out.String(), nil
}
