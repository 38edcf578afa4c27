package main

import (
	"context"
	"fmt"
	"strings"
	"time"

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
