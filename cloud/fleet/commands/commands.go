// Package commands is the mirror's side of the fleet's commands: the handlers a mirror answers on
// mirror/{id}/cmd/{name} (docs/contracts.md §1), on the parts they act on — the session
// engine, the janitor, the lights, the photo index and the camera — named by small interfaces,
// so that the handlers are tested on fakes and the fleet client stays free of them.
package commands

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// Engine is what the commands ask of the session engine.
type Engine interface {
	EndSession(ctx context.Context, reason string)
	PurgePhotos(ctx context.Context) (n int, ok bool)
	Snapshot(ctx context.Context) (session.Snapshot, bool)
}

// Janitor purges the photos kept for scanned shoppers: all of them, or those named.
type Janitor interface {
	PurgeAll(ctx context.Context, reason string) (int, error)
	Purge(ctx context.Context, ids []string, reason string) (int, error)
}

// Lights set a lighting scene. An error for a scene that is not configured has a method
// UnknownScene() bool that returns true (device/hardware's ErrUnknownScene): the command
// answers bad_args.
type Lights interface {
	SetScene(name string) error
}

// Index answers the analytics over recorded sessions.
type Index interface {
	Analytics(ctx context.Context, since time.Time) (wire.Analytics, error)
}

// Camera takes a full-resolution JPEG of the next frame.
type Camera interface {
	Capture(ctx context.Context) (jpeg []byte, width, height int, err error)
}

// Updater runs the update command (device/update's Updater): it answers once the release is
// downloaded and verified.
type Updater interface {
	Handle(ctx context.Context, args json.RawMessage) (any, error)
}

// Parts are what the commands act on. Restart ends the process cleanly (systemd starts it
// again); it is called half a second after the answer, so the broker has its PUBACK.
type Parts struct {
	Engine  Engine
	Janitor Janitor
	Lights  Lights
	Index   Index
	Camera  Camera
	Restart func()
	Update  Updater // nil: no update command (unknown_command)
	Kiosk   Kiosk   // nil: no reload-kiosk command (unknown_command)
}

// Kiosk is the kiosk page server: reload-kiosk asks its pages to reload.
type Kiosk interface {
	Reload() int
}

// Handlers returns the handlers: end-session, purge-photos, set-light, analytics, restart,
// snapshot, update when there is an updater and reload-kiosk when there is a kiosk (ping is the fleet client's own).
func Handlers(p Parts) map[string]fleet.CommandFunc {
	h := handlers(p)
	if p.Update != nil {
		h[wire.CmdUpdate] = p.Update.Handle
	}
	if p.Kiosk != nil {
		h[wire.CmdReloadKiosk] = func(context.Context, json.RawMessage) (any, error) {
			return wire.ReloadKioskResult{Pages: p.Kiosk.Reload()}, nil
		}
	}
	return h
}

func handlers(p Parts) map[string]fleet.CommandFunc {
	return map[string]fleet.CommandFunc{
		wire.CmdEndSession: func(ctx context.Context, _ json.RawMessage) (any, error) {
			p.Engine.EndSession(ctx, "command")
			return wire.EndSessionResult{Ended: true}, nil
		},
		wire.CmdPurgePhotos: func(ctx context.Context, _ json.RawMessage) (any, error) {
			n, _ := p.Engine.PurgePhotos(ctx)
			m, err := p.Janitor.PurgeAll(ctx, wire.PurgeCommand)
			return wire.PurgePhotosResult{Purged: n + m}, err
		},
		wire.CmdForgetPhotos: p.forgetPhotos,
		wire.CmdSetLight:     p.setLight,
		wire.CmdAnalytics:    p.analytics,
		wire.CmdRestart: func(ctx context.Context, _ json.RawMessage) (any, error) {
			time.AfterFunc(500*time.Millisecond, p.Restart)
			return wire.RestartResult{Restarting: true}, nil
		},
		wire.CmdSnapshot: func(ctx context.Context, _ json.RawMessage) (any, error) {
			if snap, ok := p.Engine.Snapshot(ctx); ok && snap.SessionID != "" {
				return nil, &wire.Error{Code: wire.CodeBusy, Message: "a shopper is at the mirror; no snapshot during a session"}
			}
			jpeg, w, h, err := p.Camera.Capture(ctx)
			if err != nil {
				return nil, err
			}
			return wire.SnapshotResult{Width: w, Height: h, JPEG: jpeg}, nil
		},
	}
}

// forgetPhotos deletes the copies the mirror still holds of photos their shoppers deleted.
func (p Parts) forgetPhotos(ctx context.Context, args json.RawMessage) (any, error) {
	var a wire.ForgetPhotosArgs
	if err := json.Unmarshal(args, &a); err != nil || len(a.PhotoIDs) == 0 || len(a.PhotoIDs) > 1000 {
		return nil, wire.BadArgs(`want {"photo_ids":["…"]} with 1 to 1000 IDs`)
	}
	for _, id := range a.PhotoIDs {
		if !wire.ValidPhotoID(id) {
			return nil, wire.BadArgs("photo_ids: %q is not a photo ID", id)
		}
	}
	n, err := p.Janitor.Purge(ctx, a.PhotoIDs, wire.PurgeDeleted)
	return wire.ForgetPhotosResult{Forgot: n}, err
}

func (p Parts) setLight(ctx context.Context, args json.RawMessage) (any, error) {
	var a wire.SetLightArgs
	if err := json.Unmarshal(args, &a); err != nil || a.Scene == "" {
		return nil, wire.BadArgs(`want {"scene":"daylight"}`)
	}
	if err := p.Lights.SetScene(a.Scene); err != nil {
		var unknown interface{ UnknownScene() bool }
		if errors.As(err, &unknown) && unknown.UnknownScene() {
			return nil, wire.BadArgs("%v", err)
		}
		return nil, err
	}
	return wire.SetLightResult{Scene: a.Scene}, nil
}

// analytics: sessions, dwell, photos per session, QR shown → bound conversion and time to
// scan, over sessions opened in the last "since" (default 24h).
func (p Parts) analytics(ctx context.Context, args json.RawMessage) (any, error) {
	var a wire.AnalyticsArgs
	if len(args) > 0 {
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, wire.BadArgs(`want {"since":"24h"}`)
		}
	}
	since := 24 * time.Hour
	if a.Since != "" {
		d, err := time.ParseDuration(a.Since)
		if err != nil || d <= 0 {
			return nil, wire.BadArgs("since %q: want a duration like 24h", a.Since)
		}
		since = d
	}
	return p.Index.Analytics(ctx, time.Now().Add(-since))
}
