package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fitmirror/fitmirror/device/update"
	"github.com/fitmirror/fitmirror/internal/health"
	"github.com/fitmirror/fitmirror/internal/window"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/recorder"
)

// updateDir is where updates are downloaded and journalled; fitmirror-update.path watches
// its "apply" file.
func updateDir(cfg *Config) string { return filepath.Join(cfg.StateDir, "update") }

// openUpdater builds the updater (docs/updates.md): the update command's side, and on every
// start the recovery of an update that a power cut or a SIGKILL interrupted. A machine
// without dpkg gets none (logged): the update command is then unknown.
func openUpdater(ctx context.Context, cfg *Config, log *slog.Logger, tr *health.Tracker, engine *session.Engine,
	rec *recorder.Recorder, setTarget func(string)) *update.Updater {
	win, _ := window.Parse(cfg.Update.Window) // validated with the config
	up, err := update.New(ctx, update.Options{
		Dir: updateDir(cfg), HubURL: cfg.Cloud.HubURL, Token: cfg.Cloud.Token, Keys: cfg.Update.keys(),
		HealthTimeout: cfg.Update.HealthTimeout, Window: win, Dpkg: update.Dpkg{},
		// Writing the apply file is the launch: fitmirror-update.path starts the installer
		// (mirror-agent update-apply, as root) when it appears.
		Launch: func(context.Context) error { return nil },
		Busy: func(ctx context.Context) bool {
			snap, ok := engine.Snapshot(ctx)
			return !ok || snap.SessionID != "" // an engine that does not answer is no time to restart either
		},
		Healthy: func() (bool, string) { return allPartsOK(tr.Report()) },
		Record: func(typ string, d wire.Update) {
			if ev, ok := updateEvents[typ]; ok {
				rec.Record(ev(d))
			} else {
				log.Error("update: no such event", "type", typ)
			}
		},
		SetTarget: setTarget,
		Logger:    log,
	})
	if err != nil {
		log.Warn("software updates are off", "err", err)
		return nil
	}
	return up
}

// updateEvents are the events the updater records, by type (each spelled by its wire
// constant, with wire.Update as its data).
var updateEvents = map[string]func(wire.Update) session.Event{
	wire.EventUpdateDownloading: func(d wire.Update) session.Event {
		return session.Event{Type: wire.EventUpdateDownloading, At: time.Now(), Data: d}
	},
	wire.EventUpdateVerified: func(d wire.Update) session.Event {
		return session.Event{Type: wire.EventUpdateVerified, At: time.Now(), Data: d}
	},
	wire.EventUpdateInstalling: func(d wire.Update) session.Event {
		return session.Event{Type: wire.EventUpdateInstalling, At: time.Now(), Data: d}
	},
	wire.EventUpdateCommitted: func(d wire.Update) session.Event {
		return session.Event{Type: wire.EventUpdateCommitted, At: time.Now(), Data: d}
	},
	wire.EventUpdateRolledBack: func(d wire.Update) session.Event {
		return session.Event{Type: wire.EventUpdateRolledBack, At: time.Now(), Data: d}
	},
	wire.EventUpdateRefused: func(d wire.Update) session.Event {
		return session.Event{Type: wire.EventUpdateRefused, At: time.Now(), Data: d}
	},
}

// allPartsOK is the health an update waits for: every part ok, none still starting (a
// version that has not yet opened its camera has not proved itself).
func allPartsOK(r health.Report) (bool, string) {
	if !r.OK() {
		return false, r.Reason()
	}
	for part, state := range r.Parts {
		if state != wire.HealthOK {
			return false, part + " " + state
		}
	}
	return true, ""
}

// runUpdateApply is mirror-agent update-apply: the installer the fitmirror-update unit runs.
func runUpdateApply(ctx context.Context, cfg *Config, log *slog.Logger) error {
	err := update.Apply(ctx, update.ApplyOptions{Dir: updateDir(cfg), Dpkg: update.Dpkg{}, Logger: log})
	if err != nil {
		return fmt.Errorf("update-apply: %w", err)
	}
	return nil
}
