package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
)

// noPublisher is the console's MQTT side, unused here (events reads, it never commands).
type noPublisher struct{}

func (noPublisher) Publish(context.Context, string, []byte) error { return nil }

// startConsole serves a real fleet console on loopback over a SQLite store that keeps the
// given events, with the operator ops (password "pw-console-ops-1").
func startConsole(t *testing.T, events ...hubstore.MirrorEvent) string {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, e := range events {
		if _, err := st.AddMirrorEvent(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := console.AddOperator(t.Context(), st, "ops", "viewer", "pw-console-ops-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	con, err := console.New(console.Options{Store: st, Events: st, Fleet: console.NewFleet("mirror", time.Now), Publisher: noPublisher{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(con.Handler())
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("console at %s, want loopback", srv.URL)
	}
	return srv.URL
}

// TestEventsFromTheHub: with --console, `mirrorctl events ID` prints at once the events the
// hub keeps of that mirror, oldest first, shown as text (a hostile mirror's escapes too), and
// with -f it follows the live events after them.
func TestEventsFromTheHub(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var kept []hubstore.MirrorEvent
	for i, typ := range []string{"session.opened", "qr.shown", "photo.bound", "session.closed"} {
		kept = append(kept, hubstore.MirrorEvent{Device: "m1", Seq: uint64(i + 1), ID: "e" + typ, Type: typ,
			At: at.Add(time.Duration(i) * time.Second), SessionID: "s-1", Data: []byte(`{"n":1}`)})
	}
	kept = append(kept, hubstore.MirrorEvent{Device: "m1", Seq: 5, ID: "e5", Type: "camera.lost", At: at.Add(5 * time.Second),
		SessionID: "s-\x1b[2J", Data: []byte(`{"reason":"gone"}`)}) // a hostile mirror's escape
	kept = append(kept, hubstore.MirrorEvent{Device: "m2", Seq: 1, ID: "e6", Type: "session.opened", At: at, Data: []byte(`{}`)})
	url := startConsole(t, kept...)
	t.Setenv("MIRRORCTL_CONSOLE_PASSWORD", "pw-console-ops-1")
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{broker.OpsUser: "pw-ops"}})

	code, out, errOut := ctl(t, b, "events", "m1", "--console", url, "--operator", "ops", "--last", "3")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "MIRROR") {
		t.Fatalf("events --console --last 3 = %d, stderr %q:\n%s", code, errOut, out)
	}
	for i, want := range []string{"photo.bound", "session.closed", "camera.lost"} {
		if f := strings.Fields(lines[i+1]); len(f) < 4 || f[0] != "m1" || f[3] != want {
			t.Errorf("row %d = %q, want m1's %s (oldest first)", i+1, lines[i+1], want)
		}
	}

	t.Setenv("MIRRORCTL_CONSOLE", url)
	t.Setenv("MIRRORCTL_OPERATOR", "ops")
	code, out, _ = ctl(t, b, "--json", "events", "m1", "--last", "1")
	var line struct {
		Mirror string
		Event  struct {
			Seq       uint64
			Type      string
			SessionID string `json:"session_id"`
			Data      struct{ Reason string }
		}
	}
	if err := json.Unmarshal([]byte(out), &line); code != 0 || err != nil {
		t.Fatalf("--json events from the environment = %d %q: %v", code, out, err)
	}
	if line.Mirror != "m1" || line.Event.Seq != 5 || line.Event.Type != "camera.lost" || line.Event.Data.Reason != "gone" || line.Event.SessionID != `s-\x1b[2J` {
		t.Errorf("--json = %+v, want m1's camera.lost with its session as the console shows it", line)
	}
	if _, out, _ = ctl(t, b, "events", "m1", "--last", "1"); strings.Contains(out, "\x1b") || !strings.Contains(out, `s-\x1b[2J`) {
		t.Errorf("a mirror's escape reached the terminal:\n%q", out)
	}

	// -f: the kept events first, then the live ones.
	var o, e bytes.Buffer
	c := &app{out: &o}
	ctx, cancel := context.WithCancel(context.Background())
	c.subscribed = func([]string) { cancel() }
	c.run(ctx, []string{"--broker", b.URL(), "--username", broker.OpsUser, "--password", "pw-ops", "events", "-f", "m1", "--last", "2"}, &e)
	if rows := strings.Split(strings.TrimSpace(o.String()), "\n"); len(rows) != 3 || !strings.Contains(rows[2], "camera.lost") {
		t.Errorf("events -f --console printed:\n%s\nstderr %q; want the header, then the 2 kept events", o.String(), e.String())
	}
}

// TestEventsConsoleErrors: a wrong password, a missing operator, a bad URL, a console that
// is down, a fleet-wide request and --last out of range each end with one line naming it.
func TestEventsConsoleErrors(t *testing.T) {
	url := startConsole(t)
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{broker.OpsUser: "pw-ops"}})
	for _, tc := range []struct {
		pw      string
		args    []string
		wantErr string
	}{
		{"wrong-password-1", []string{"events", "m1", "--console", url, "--operator", "ops"}, "401 Unauthorized wrong name or password"},
		{"pw-console-ops-1", []string{"events", "m1", "--console", url}, "--console needs an operator"},
		{"", []string{"events", "m1", "--console", url, "--operator", "ops"}, "MIRRORCTL_CONSOLE_PASSWORD"},
		{"pw-console-ops-1", []string{"events", "m1", "--console", "127.0.0.1:8091", "--operator", "ops"}, "want the console's URL"},
		{"pw-console-ops-1", []string{"events", "m1", "--console", "http://127.0.0.1:1", "--operator", "ops"}, "does not answer"},
		{"pw-console-ops-1", []string{"events", "--console", url, "--operator", "ops"}, "name a mirror"},
		{"pw-console-ops-1", []string{"events", "m1", "--console", url, "--operator", "ops", "--last", "0"}, "--last 0: want 1 to 1000"},
		{"pw-console-ops-1", []string{"events", "m1", "--console", url, "--operator", "ops"}, "the hub keeps no events of this mirror"},
	} {
		t.Setenv("MIRRORCTL_CONSOLE_PASSWORD", tc.pw)
		code, _, errOut := ctl(t, b, tc.args...)
		if !strings.Contains(errOut, tc.wantErr) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("mirrorctl %v = %d, stderr %q; want one line with %q", tc.args, code, errOut, tc.wantErr)
		}
	}
}
