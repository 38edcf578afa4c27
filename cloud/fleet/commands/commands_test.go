package commands_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet/commands"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/store"
)

// TestFleetCommandResults: the mirror's command handlers answer with the wire result types
// (docs/contracts.md §1), as mirrorctl decodes them, and refuse bad arguments with bad_args.
func TestFleetCommandResults(t *testing.T) {
	ctx := context.Background()
	db, err := store.OpenDB(filepath.Join(t.TempDir(), "mirror.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Now().Add(-30 * time.Minute)
	for _, ev := range []session.Event{
		{Type: wire.EventSessionOpened, At: at, SessionID: "S1"},
		{Type: wire.EventPhotoCaptured, At: at.Add(5 * time.Second), SessionID: "S1", PhotoID: "P1", Data: map[string]any{"width": 1280, "height": 720, "bytes": 1000}},
		{Type: wire.EventQRShown, At: at.Add(6 * time.Second), SessionID: "S1", PhotoID: "P1", Data: map[string]any{"expires_at": at.Add(time.Hour)}},
		{Type: wire.EventPhotoBound, At: at.Add(10 * time.Second), SessionID: "S1", PhotoID: "P1", Data: map[string]any{"event": "SCAN"}},
		{Type: wire.EventSessionClosed, At: at.Add(20 * time.Second), SessionID: "S1", Data: map[string]any{"duration_ms": 20000, "photos": 1, "reason": "absent"}},
	} {
		if _, err := db.Append(ctx, ev); err != nil {
			t.Fatalf("Append(%s) = %v", ev.Type, err)
		}
	}
	restarted := make(chan struct{})
	cmds := commands.Handlers(commands.Parts{Index: db, Lights: noLights{}, Restart: func() { close(restarted) }})
	for _, name := range []string{wire.CmdEndSession, wire.CmdPurgePhotos, wire.CmdSetLight, wire.CmdAnalytics, wire.CmdRestart, wire.CmdSnapshot} {
		if cmds[name] == nil {
			t.Errorf("no handler for %q", name)
		}
	}
	// run calls a handler and decodes its data as the fleet client sends it.
	run := func(name, args string, into any) error {
		data, err := cmds[name](ctx, json.RawMessage(args))
		if err != nil {
			return err
		}
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatalf("%s: data not encodable: %v", name, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(into); err != nil {
			t.Errorf("%s: data %s does not decode as %T: %v", name, b, into, err)
		}
		return nil
	}

	var a wire.Analytics
	if err := run(wire.CmdAnalytics, `{"since":"1h"}`, &a); err != nil {
		t.Fatal(err)
	}
	if want := (wire.Analytics{Sessions: 1, AvgDwellMs: 20000, Photos: 1, PhotosPerSession: 1, QRShown: 1, Bound: 1, Conversion: 1, AvgTimeToScanMs: 4000}); a != want {
		t.Errorf("analytics since 1h = %+v, want %+v", a, want)
	}
	a = wire.Analytics{}
	if err := run(wire.CmdAnalytics, `{"since":"10m"}`, &a); err != nil || a.Sessions != 0 {
		t.Errorf("analytics since 10m = %+v, %v; want no session", a, err)
	}
	for name, args := range map[string]string{wire.CmdAnalytics: `{"since":"yesterday"}`, wire.CmdSetLight: `{"scene":"daylight"}`} {
		var we *wire.Error
		if err := run(name, args, new(any)); !errors.As(err, &we) || we.Code != wire.CodeBadArgs {
			t.Errorf("%s %s = %v, want %s", name, args, err, wire.CodeBadArgs)
		}
	}

	var r wire.RestartResult
	if err := run(wire.CmdRestart, "", &r); err != nil || !r.Restarting {
		t.Errorf("restart = %+v, %v", r, err)
	}
	select {
	case <-restarted:
	case <-time.After(5 * time.Second):
		t.Error("restart did not restart")
	}
}

// noLights is a mirror without lights, as device/hardware reports it: every scene is unknown,
// with an error that says so by its UnknownScene method (device/hardware's
// TestUnknownSceneErrorContract holds the real one to it).
type noLights struct{}

type unknownScene struct{}

func (unknownScene) Error() string      { return "unknown scene" }
func (unknownScene) UnknownScene() bool { return true }

func (noLights) SetScene(name string) error {
	return fmt.Errorf("io: set scene %q: %w (no lights configured)", name, unknownScene{})
}

// TestUpdateCommandWithUpdater: the update command is there only with an updater, and hands
// it the arguments as they came.
func TestUpdateCommandWithUpdater(t *testing.T) {
	if _, ok := commands.Handlers(commands.Parts{})[wire.CmdUpdate]; ok {
		t.Error("an update command without an updater")
	}
	up := &recordingUpdater{}
	h := commands.Handlers(commands.Parts{Update: up})[wire.CmdUpdate]
	if h == nil {
		t.Fatal("no update command with an updater")
	}
	data, err := h(context.Background(), json.RawMessage(`{"version":"1.2.0"}`))
	if err != nil || string(up.args) != `{"version":"1.2.0"}` || data != (wire.UpdateResult{Version: "1.2.0", State: "waiting"}) {
		t.Errorf("update = %+v, %v; updater got %s", data, err, up.args)
	}
}

type recordingUpdater struct{ args json.RawMessage }

func (r *recordingUpdater) Handle(_ context.Context, args json.RawMessage) (any, error) {
	r.args = args
	return wire.UpdateResult{Version: "1.2.0", State: "waiting"}, nil
}

// janitor records what forget-photos asks it to purge.
type janitor struct{ asked []string }

func (j *janitor) PurgeAll(context.Context, string) (int, error) { return 0, nil }
func (j *janitor) Purge(_ context.Context, ids []string, reason string) (int, error) {
	if reason != wire.PurgeDeleted {
		return 0, fmt.Errorf("reason %q", reason)
	}
	j.asked = append(j.asked, ids...)
	return len(ids) - 1, nil
}

// TestForgetPhotos: the hub's forget-photos purges the named photos (reason deleted) and
// answers how many the mirror held; bad arguments change nothing.
func TestForgetPhotos(t *testing.T) {
	j := &janitor{}
	h := commands.Handlers(commands.Parts{Janitor: j})[wire.CmdForgetPhotos]
	res, err := h(context.Background(), json.RawMessage(`{"photo_ids":["P1","P2"]}`))
	if err != nil || res != (wire.ForgetPhotosResult{Forgot: 1}) || fmt.Sprint(j.asked) != "[P1 P2]" {
		t.Fatalf("forget-photos = %+v, %v; asked %v", res, err, j.asked)
	}
	for _, bad := range []string{`{}`, `{"photo_ids":[]}`, `{"photo_ids":["../x"]}`, `[1]`} {
		var we *wire.Error
		if _, err := h(context.Background(), json.RawMessage(bad)); !errors.As(err, &we) || we.Code != wire.CodeBadArgs {
			t.Errorf("%s: %v, want bad_args", bad, err)
		}
	}
	if len(j.asked) != 2 {
		t.Errorf("bad arguments purged %v", j.asked[2:])
	}
}

// TestReloadKiosk: reload-kiosk is there only with a kiosk, and answers how many pages it
// asked to reload.
func TestReloadKiosk(t *testing.T) {
	if _, ok := commands.Handlers(commands.Parts{})[wire.CmdReloadKiosk]; ok {
		t.Error("a reload-kiosk command without a kiosk")
	}
	k := &kiosk{pages: 2}
	h := commands.Handlers(commands.Parts{Kiosk: k})[wire.CmdReloadKiosk]
	if h == nil {
		t.Fatal("no reload-kiosk command with a kiosk")
	}
	data, err := h(context.Background(), nil)
	if err != nil || data != (wire.ReloadKioskResult{Pages: 2}) || k.reloads != 1 {
		t.Errorf("reload-kiosk = %+v, %v after %d reloads", data, err, k.reloads)
	}
}

type kiosk struct{ pages, reloads int }

func (k *kiosk) Reload() int { k.reloads++; return k.pages }
