package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/rollout"
	"github.com/fitmirror/fitmirror/cmd/internal/cli"
	"github.com/fitmirror/fitmirror/internal/debpkg"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// rolloutCmd runs "rollout start VERSION …", "rollout status [ID]", "rollout stop ID" and
// "pin ID VERSION|--clear". They change the hub's database; the serving hub (any replica)
// advances the rollouts.
func rolloutCmd(ctx context.Context, cmd string, fs *flag.FlagSet, args []string, file *string, sets *cli.SetFlags, stdout, stderr io.Writer) error {
	var spec rollout.Spec
	var devices string
	var asJSON, clear *bool
	switch cmd {
	case "rollout start":
		fs.StringVar(&devices, "devices", "", "update these mirrors, comma-separated: `ID,ID,…`")
		fs.StringVar(&spec.Group, "group", "", "update the mirrors of this `store` (the console's store/group)")
		fs.BoolVar(&spec.All, "all", false, "update every mirror the hub has heard from")
		fs.IntVar(&spec.Canary, "canary", 1, "mirrors updated first, alone")
		fs.IntVar(&spec.Batch, "batch", 10, "mirrors per batch after the canary (0 = the rest at once)")
		fs.IntVar(&spec.MaxFailures, "max-failures", 0, "stop the rollout once more than this many mirrors failed")
		fs.Float64Var(&spec.MaxFailurePct, "max-failure-pct", 0, "stop once more than this percentage of the finished mirrors failed (instead of --max-failures)")
		fs.StringVar(&spec.Window, "window", "", "send commands only in this daily window of the hub's local time, `HH:MM-HH:MM`")
		fs.DurationVar(&spec.Timeout, "timeout", 2*time.Hour, "a mirror that reports no outcome this long after its command counts as failed")
		fs.BoolVar(&spec.AllowDowngrade, "allow-downgrade", false, "let mirrors install a version older than the one they run")
	case "rollout status":
		asJSON = fs.Bool("json", false, "print the rollouts as JSON lines, with every mirror")
	case "pin":
		clear = fs.Bool("clear", false, "remove the mirror's pin")
	}
	pos, err := cli.ParseAll(fs, args, stdout)
	if err != nil {
		return err
	}
	want := map[string][2]int{"rollout start": {1, 1}, "rollout status": {0, 1}, "rollout stop": {1, 1}, "pin": {1, 2}}[cmd]
	if len(pos) < want[0] || len(pos) > want[1] {
		fmt.Fprintf(fs.Output(), "%s: wrong number of arguments\nusage: %s\n", fs.Name(), helps[cmd].Usage)
		return errUsage
	}
	cfg, _, err := load(*file, *sets, stderr)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	e := &rollout.Engine{Store: st.rollouts, Releases: st.releases}
	switch cmd {
	case "rollout start":
		spec.Version = pos[0]
		if devices != "" {
			spec.Devices = strings.Split(devices, ",")
			for _, d := range spec.Devices {
				if !wire.ValidDeviceID(d) {
					return fmt.Errorf("--devices: %q is not a device ID", d)
				}
				if _, err := st.Device(ctx, d); err != nil {
					return fmt.Errorf("--devices: %s is not a registered mirror (mirror-cloud device add): %w", d, err)
				}
			}
		}
		r, err := e.Start(ctx, spec)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rollout %s started: %s; the hub sends the canary within seconds (mirror-cloud rollout status %s)\n", r.ID, r.Spec.Version, r.ID)
		return nil
	case "rollout stop":
		r, err := e.Stop(ctx, pos[0], "stopped by an operator")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rollout %s stopped: no further command goes out; mirrors updating now finish or roll back by themselves\n", r.ID)
		return nil
	case "pin":
		return pinCmd(ctx, st, pos, *clear, stdout)
	}
	return rolloutStatus(ctx, e, pos, *asJSON, stdout)
}

func pinCmd(ctx context.Context, st *stores, pos []string, clear bool, stdout io.Writer) error {
	if !wire.ValidDeviceID(pos[0]) {
		return fmt.Errorf("%q is not a device ID", pos[0])
	}
	switch {
	case clear && len(pos) == 1:
		if err := st.rollouts.SetPin(ctx, pos[0], ""); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is not pinned: rollouts may update it\n", pos[0])
		return nil
	case !clear && len(pos) == 2:
		if err := debpkg.ValidVersion(pos[1]); err != nil {
			return err
		}
		if err := st.rollouts.SetPin(ctx, pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is pinned to %s: rollouts of other versions skip it\n", pos[0], pos[1])
		return nil
	}
	return fmt.Errorf("pin: want ID VERSION, or ID --clear")
}

func rolloutStatus(ctx context.Context, e *rollout.Engine, pos []string, asJSON bool, stdout io.Writer) error {
	var list []*rollout.Rollout
	if len(pos) == 1 {
		r, err := e.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		list = []*rollout.Rollout{r}
	} else {
		var err error
		if list, err = e.List(ctx); err != nil {
			return err
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range list {
			enc.Encode(r)
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLLOUT\tVERSION\tSTATE\tCOMMITTED\tFAILED\tUPDATING\tWAITING\tSKIPPED\tSTARTED\tREASON")
	for _, r := range list {
		c := r.Counts()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.ID, r.Spec.Version, r.State, c[rollout.TargetCommitted], c[rollout.TargetFailed],
			c[rollout.TargetSent], c[rollout.TargetPending], c[rollout.TargetSkipped], r.CreatedAt.Local().Format("2006-01-02 15:04"), safeText(r.Reason))
	}
	if err := tw.Flush(); err != nil || len(pos) == 0 {
		return err
	}
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MIRROR\tWAVE\tSTATE\tFROM\tREASON")
	for _, t := range list[0].Targets {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", t.Device, t.Wave, t.State, safeText(t.From), safeText(t.Reason))
	}
	return tw.Flush()
}

// safeText keeps what a mirror reported (a reason, a version) from driving the terminal.
func safeText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
