package power

import (
	"context"
	"log/slog"
	"time"
)

// Options configure a Policy.
type Options struct {
	// Hours are the opening hours. The zero value: always open, the panel is never powered down.
	Hours Hours
	// Location is the time zone the hours are in. nil means time.Local.
	Location *time.Location
	// Panel switches the panel. nil: the policy only logs what it would do.
	Panel Panel
	// Retry is how long to wait after a failed switch before trying again. 0 means 1 minute.
	Retry time.Duration
	// Logger receives changes and errors. nil means slog.Default().
	Logger *slog.Logger
}

// Policy powers the panel on for opening hours and off outside them.
type Policy struct {
	opts Options
	log  *slog.Logger
}

// New returns a Policy. It does not modify opts.
func New(opts Options) *Policy {
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Retry <= 0 {
		opts.Retry = time.Minute
	}
	p := &Policy{opts: opts, log: opts.Logger}
	if p.log == nil {
		p.log = slog.Default()
	}
	return p
}

// Run sets the panel's power for now, then again at every opening and closing, until ctx ends.
// When ctx ends it leaves the panel on (the next start, or a technician, finds a working screen).
// A failed switch is logged and retried after Options.Retry; Run never fails because of one.
func (p *Policy) Run(ctx context.Context) error {
	applied, known := false, false
	for {
		now := time.Now().In(p.opts.Location)
		want := p.opts.Hours.Open(now)
		wait := time.Duration(0)
		if !known || want != applied {
			if err := p.set(ctx, want); err != nil {
				if ctx.Err() != nil {
					break
				}
				p.log.Error("power: switch panel", "on", want, "err", err)
				wait = p.opts.Retry
			} else {
				applied, known = want, true
			}
		}
		if wait == 0 {
			next := p.opts.Hours.Next(now)
			if next.IsZero() {
				<-ctx.Done()
				break
			}
			wait = next.Sub(now)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
			continue
		}
		break
	}
	if known && !applied {
		on := context.WithoutCancel(ctx)
		on, cancel := context.WithTimeout(on, 10*time.Second)
		defer cancel()
		if err := p.set(on, true); err != nil {
			p.log.Error("power: switch panel on at exit", "err", err)
		}
	}
	return nil
}

func (p *Policy) set(ctx context.Context, on bool) error {
	p.log.Info("power: panel", "on", on, "hours", p.opts.Hours.String())
	if p.opts.Panel == nil {
		return nil
	}
	return p.opts.Panel.SetPower(ctx, on)
}
