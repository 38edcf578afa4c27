package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/display/power"
)

// checkPanelPower says which panel power method the agent would use (display.power) and
// whether it answered, without switching the panel. With no display.hours the panel is never
// switched, and nothing is probed.
func checkPanelPower(ctx context.Context, cfg *Config) (detail, hint string, err error) {
	if cfg.Display.Hours == "" {
		return "not switched: display.hours is empty (the panel stays on)", "", nil
	}
	var skipped []string
	p, err := power.DetectWith(ctx, cfg.Display.Power, power.DetectOptions{
		ProbeTimeout: 5 * time.Second,
		Skipped:      func(m string, err error) { skipped = append(skipped, m) },
	})
	if err != nil {
		return "", "install the tool named, or set display.power to another method (docs/hardware.md, Screen power)", err
	}
	if p == nil {
		if cfg.Display.Power == "none" {
			return "none (display.power: none): the panel stays on at night", "", nil
		}
		return "", "see docs/hardware.md, Screen power: under cage use ddc (apt-get install ddcutil), backlight (DSI panels) or cec",
			fmt.Errorf("display.power auto: no method works (tried %s): the panel stays on at night", strings.Join(skipped, ", "))
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	said, err := power.Probe(pctx, p)
	if err != nil {
		return "", "see docs/hardware.md, Screen power", fmt.Errorf("%s did not answer: %w", power.Name(p), err)
	}
	return power.Name(p) + " answered: " + said, "", nil
}

// checkPiPower reads the Raspberry Pi firmware's throttling flags from the /sys tree sys:
// an under-voltage now fails (the mirror will freeze), anything else is reported.
func checkPiPower(sys string) (detail, hint string, err error) {
	th, err := fleet.FirmwareThrottled(sys)()
	switch {
	case errors.Is(err, fleet.ErrNoThrottled):
		return "not reported (no Raspberry Pi firmware flags)", "", nil
	case err != nil:
		return "", "is the Raspberry Pi firmware driver loaded?", err
	case th.Has("under-voltage"):
		return "", "use the official 5 V supply (5.1 V, 3 A for a Pi 4, 5 A for a Pi 5) and its cable",
			fmt.Errorf("undervoltage now (throttled=%s)", th.Flags)
	}
	detail = th.String()
	if len(th.Occurred) > 0 {
		detail += "; occurred: " + strings.Join(th.Occurred, ", ")
	}
	return detail, "", nil
}
