package power

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Panel switches the display panel on and off.
type Panel interface {
	SetPower(ctx context.Context, on bool) error
}

// CEC controls a TV or monitor over HDMI-CEC with cec-client (Debian cec-utils; on a Raspberry
// Pi the HDMI port's CEC adapter).
type CEC struct {
	// Path is cec-client's path.
	Path string
	// Address is the CEC logical address of the panel; "" means "0" (the TV).
	Address string
}

// SetPower sends "on" or "standby" to the panel: echo "on 0" | cec-client -s -d 1.
func (c CEC) SetPower(ctx context.Context, on bool) error {
	addr := c.Address
	if addr == "" {
		addr = "0"
	}
	cmd := "standby " + addr
	if on {
		cmd = "on " + addr
	}
	return run(ctx, "cec", strings.NewReader(cmd+"\n"), c.Path, "-s", "-d", "1")
}

// DPMS controls an X display's power with xset.
type DPMS struct {
	// Path is xset's path.
	Path string
	// Display is the X display, like ":0". "" means $DISPLAY.
	Display string
}

// SetPower on: wakes the display and disables DPMS and the screen saver, so that an idle black
// screen never goes to sleep in opening hours. Off: enables DPMS and forces the display off.
func (d DPMS) SetPower(ctx context.Context, on bool) error {
	args := []string{"+dpms", "dpms", "force", "off"}
	if on {
		if err := run(ctx, "dpms", nil, d.Path, d.args("dpms", "force", "on")...); err != nil {
			return err
		}
		args = []string{"-dpms", "s", "off"}
	}
	return run(ctx, "dpms", nil, d.Path, d.args(args...)...)
}

func (d DPMS) args(a ...string) []string {
	if d.Display != "" {
		return append([]string{"-display", d.Display}, a...)
	}
	return a
}

// run runs a tool and names it, its arguments and its output in an error.
func run(ctx context.Context, what string, stdin *strings.Reader, path string, args ...string) error {
	cmd := exec.CommandContext(ctx, path, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("power: %s: %s %s: %w: %s", what, path, strings.Join(args, " "), err,
			strings.TrimSpace(out.String()))
	}
	return nil
}
