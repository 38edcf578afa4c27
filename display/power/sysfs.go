package power

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// DDC switches a monitor's power mode over DDC/CI with ddcutil (Debian package ddcutil):
// VCP feature 0xD6, 1 on and 4 off. It is for monitors that ignore DPMS or a lost signal, and
// needs no graphical session, only the i2c-dev module and access to /dev/i2c-*.
type DDC struct {
	// Path is ddcutil's path.
	Path string
	// Display is ddcutil's --display number; 0 means the first monitor ddcutil finds.
	Display int
}

// SetPower runs ddcutil setvcp d6 1 (or 4).
func (d DDC) SetPower(ctx context.Context, on bool) error {
	mode := "4"
	if on {
		mode = "1"
	}
	_, err := output(ctx, "ddc", os.Environ(), d.Path, d.args("setvcp", "d6", mode)...)
	return err
}

// Probe reads the monitor's power mode (ddcutil getvcp d6): an error when no monitor answers.
func (d DDC) Probe(ctx context.Context) (string, error) {
	out, err := output(ctx, "ddc", os.Environ(), d.Path, d.args("getvcp", "d6")...)
	return strings.TrimSpace(out), err
}

func (d DDC) args(a ...string) []string {
	if d.Display > 0 {
		return append([]string{"--display", fmt.Sprint(d.Display)}, a...)
	}
	return a
}

// Backlight switches the backlights in /sys/class/backlight (the Raspberry Pi's official DSI
// panels, laptop panels) through bl_power: 0 on, 4 off (FB_BLANK_POWERDOWN). The agent needs
// write access to bl_power (docs/hardware.md).
type Backlight struct {
	// Files are the bl_power files.
	Files []string
}

// Backlights finds the bl_power files under sys (a /sys tree; "" means /sys).
func Backlights(sys string) ([]string, error) {
	if sys == "" {
		sys = "/sys"
	}
	files, err := filepath.Glob(filepath.Join(sys, "class", "backlight", "*", "bl_power"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	return files, nil
}

// SetPower writes 0 (or 4) to every bl_power file.
func (b Backlight) SetPower(ctx context.Context, on bool) error {
	v := "4\n"
	if on {
		v = "0\n"
	}
	if len(b.Files) == 0 {
		return errors.New("power: backlight: no bl_power file")
	}
	var errs []error
	for _, f := range b.Files {
		if err := os.WriteFile(f, []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("power: backlight: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Probe reads each bl_power file, checks that this process may write it (a read-only /sys,
// as the agent's unit mounts it, or a file only root may write, is an error), and says which
// are on.
func (b Backlight) Probe(context.Context) (string, error) {
	var states []string
	for _, f := range b.Files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("power: backlight: %w", err)
		}
		if err := syscall.Access(f, 2 /* W_OK */); err != nil {
			return "", fmt.Errorf("power: backlight: %s is not writable: %w", f, err)
		}
		state := "off"
		if strings.TrimSpace(string(raw)) == "0" {
			state = "on"
		}
		states = append(states, filepath.Base(filepath.Dir(f))+" "+state)
	}
	if len(states) == 0 {
		return "", errors.New("power: backlight: no bl_power file")
	}
	return strings.Join(states, ", "), nil
}
