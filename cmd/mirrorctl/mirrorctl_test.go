package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/go-cmp/cmp"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/cmd/internal/cli"
	"github.com/fitmirror/fitmirror/cmd/internal/config"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/store"
)

// agentConfig is a slice of mirror-agent's configuration, validated by the same loader.
type agentConfig struct {
	Presence struct {
		EnterDwell time.Duration `yaml:"enter_dwell" range:"0s,30s"`
		ExitGrace  time.Duration `yaml:"exit_grace" range:"0s,5m"`
	} `yaml:"presence"`
	Log struct {
		Level string `yaml:"level" enum:"debug,info,warn,error"`
	} `yaml:"log"`
}

// mirror is a fleet client m1 with a real outbox, the real config loader and two commands.
type mirror struct {
	mu      sync.Mutex
	cfg     agentConfig
	db      *store.DB
	lights  atomic.Int32
	stopped chan struct{}
}

func startMirror(t *testing.T, b *mosquittotest.Broker) *mirror {
	t.Helper()
	m := &mirror{stopped: make(chan struct{})}
	m.cfg.Presence.EnterDwell, m.cfg.Presence.ExitGrace, m.cfg.Log.Level = 2*time.Second, 3*time.Second, "info"
	db, err := store.OpenDB(filepath.Join(t.TempDir(), "m1.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m.db = db
	c, err := fleet.New(fleet.Options{
		Broker: b.URL(), DeviceID: "m1", Password: "pw-m1", Version: "0.9.0", Outbox: db,
		TelemetryInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ApplyConfig: func(ctx context.Context, _ int64, sets []string) (any, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			// The wiring mirror-agent uses: every key onto a copy, then the file's checks.
			next := m.cfg
			for _, kv := range sets {
				k, v, _ := strings.Cut(kv, "=")
				if err := config.Set(&next, k, v); err != nil {
					return config.Effective(&m.cfg), err
				}
			}
			if err := config.Check(&next); err != nil {
				return config.Effective(&m.cfg), err
			}
			m.cfg = next
			return config.Effective(&m.cfg), nil
		},
		Commands: map[string]fleet.CommandFunc{
			"set-light": func(_ context.Context, args json.RawMessage) (any, error) {
				var a struct{ Scene string }
				if json.Unmarshal(args, &a) != nil || a.Scene == "" {
					return nil, wire.BadArgs(`want {"scene":"…"}`)
				}
				m.lights.Add(1)
				return map[string]string{"scene": a.Scene}, nil
			},
			"hostile": func(context.Context, json.RawMessage) (any, error) { // a compromised mirror's error
				return nil, errors.New("\x1b[2J\x1b[H\x1b[32mOK\x1b[0m \x1b]0;owned\x07")
			},
			"analytics": func(_ context.Context, args json.RawMessage) (any, error) {
				if strings.Contains(string(args), "broken") { // a mirror that answers out of contract
					return map[string]any{"sessions": "many"}, nil
				}
				return wire.Analytics{Sessions: 4, AvgDwellMs: 83400, Photos: 6, PhotosPerSession: 1.5, QRShown: 4, Bound: 2, Conversion: 0.5, AvgTimeToScanMs: 12345}, nil
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { c.Run(ctx); close(m.stopped) }()
	t.Cleanup(func() { cancel(); <-m.stopped })
	return m
}

func ctl(t *testing.T, b *mosquittotest.Broker, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return ctlWith(t, b, &app{}, args...)
}

// ctlWith runs mirrorctl as c (with its test hooks) against b as the operator.
func ctlWith(t *testing.T, b *mosquittotest.Broker, c *app, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	c.out = &o
	all := append([]string{"--broker", b.URL(), "--username", broker.OpsUser, "--password", "pw-ops", "--timeout", "5s"}, args...)
	code = c.run(context.Background(), all, &e)
	return code, o.String(), e.String()
}

// waitOnline polls ls until m1 is online (its first status may still be on its way).
func waitOnline(t *testing.T, b *mosquittotest.Broker) {
	t.Helper()
	for i := 0; i < 50; i++ {
		_, out, _ := ctl(t, b, "--json", "ls")
		if strings.Contains(out, `"state": "online"`) {
			return
		}
	}
	t.Fatal("m1 not online")
}

// TestPrintResult: results are printed for people by their command's wire type.
func TestPrintResult(t *testing.T) {
	snap, _ := json.Marshal(wire.SnapshotResult{Width: 640, Height: 480, JPEG: []byte{0xff, 0xd8, 0xff, 0xd9}})
	an, _ := json.Marshal(wire.Analytics{Sessions: 4, AvgDwellMs: 83400, Photos: 6, PhotosPerSession: 1.5, QRShown: 4, Bound: 2, Conversion: 0.5, AvgTimeToScanMs: 12345})
	for _, tc := range []struct {
		name string
		data string
		want []string
	}{
		{"snapshot", string(snap), []string{"ok snapshot 640x480, 4 bytes of JPEG"}},
		{"analytics", string(an), []string{"sessions  4", "average dwell  1m23.4s", "photos  6 (1.50 per session)", "bound  2 (conversion 50.0%)", "average time to scan  12.3s"}},
		{"set-light", `{"scene":"daylight"}`, []string{`ok {"scene":"daylight"}`}},
		{"end-session", ``, []string{`ok {}`}},
	} {
		var b bytes.Buffer
		if err := decodeResult(tc.name, json.RawMessage(tc.data)); err != nil {
			t.Errorf("decodeResult(%s) = %v", tc.name, err)
		}
		printResult(&b, tc.name, json.RawMessage(tc.data))
		for _, w := range tc.want {
			if !regexpLine(b.String(), strings.Fields(w)...) {
				t.Errorf("%s printed %q, want a line %q", tc.name, b.String(), w)
			}
		}
	}
	if err := decodeResult("snapshot", json.RawMessage(`{"width":640,"jpeg_base64":"not base64!"}`)); err == nil {
		t.Error("decodeResult accepted a snapshot that is not base64")
	}
}

func TestMirrorctl(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"m1": "pw-m1", broker.OpsUser: "pw-ops"}})
	m := startMirror(t, b)
	waitOnline(t, b)

	t.Run("ls", func(t *testing.T) {
		code, out, _ := ctl(t, b, "ls")
		if code != 0 || !strings.HasPrefix(out, "MIRROR") || !regexpLine(out, "m1", "online", "0.9.0") {
			t.Errorf("ls = %d\n%s", code, out)
		}
		code, out, _ = ctl(t, b, "--json", "ls")
		var rows []struct {
			ID, State, Version string
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil || code != 0 {
			t.Fatalf("ls --json = %d %q: %v", code, out, err)
		}
		if diff := cmp.Diff([]struct{ ID, State, Version string }{{"m1", "online", "0.9.0"}}, rows); diff != "" {
			t.Errorf("ls --json (-want +got):\n%s", diff)
		}
	})

	t.Run("cmd", func(t *testing.T) {
		tests := []struct {
			args     []string
			wantCode int
			wantOut  string
			wantErr  string
		}{
			{[]string{"cmd", "m1", "ping"}, 0, `"version":"0.9.0"`, ""},
			{[]string{"cmd", "m1", "set-light", `{"scene":"daylight"}`}, 0, `ok {"scene":"daylight"}`, ""},
			{[]string{"cmd", "m1", "set-light", `{}`}, 1, "", "bad_args"},
			{[]string{"cmd", "m1", "analytics"}, 0, "conversion 50.0%", ""},
			{[]string{"cmd", "m1", "analytics", `{"since":"broken"}`}, 1, "", `m1 analytics: the result's data does not decode as the analytics result ({"sessions":"many"})`},
			{[]string{"cmd", "m1", "warp"}, 1, "", "unknown_command"},
			{[]string{"cmd", "m1", "snapshot"}, 1, "", "forbidden"},
			{[]string{"cmd", "m1", "set-light", `nope`}, 2, "", "args must be a JSON object"},
			{[]string{"cmd", "M1", "ping"}, 2, "", "not a device ID"},
			{[]string{"--timeout", "300ms", "cmd", "m9", "ping"}, 3, "", "no result within 300ms"},
		}
		for _, tc := range tests {
			code, out, errOut := ctl(t, b, tc.args...)
			if code != tc.wantCode || !strings.Contains(out, tc.wantOut) || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("mirrorctl %v = %d, %q, %q; want %d, %q, %q", tc.args, code, out, errOut, tc.wantCode, tc.wantOut, tc.wantErr)
			}
			if strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
				t.Errorf("mirrorctl %v: error is not one line: %q", tc.args, errOut)
			}
		}
		if n := m.lights.Load(); n != 1 {
			t.Errorf("set-light ran %d times, want 1", n)
		}
	})

	t.Run("config", func(t *testing.T) {
		code, out, errOut := ctl(t, b, "config", "m1", "presence.enter_dwell=1s", "log.level=debug")
		if code != 0 || !strings.Contains(out, "applied config version 1") {
			t.Fatalf("config = %d %q %q", code, out, errOut)
		}
		code, _, errOut = ctl(t, b, "config", "m1", "presence.enter_dwell=45s")
		if code != 1 || !strings.Contains(errOut, "refused config version 2: presence.enter_dwell: must be between 0s and 30s (got 45s)") {
			t.Errorf("invalid config = %d %q", code, errOut)
		}
		m.mu.Lock()
		got := m.cfg
		m.mu.Unlock()
		if got.Presence.EnterDwell != time.Second || got.Log.Level != "debug" {
			t.Errorf("config after refusal = %+v, want enter_dwell 1s and level debug kept", got)
		}
		code, out, _ = ctl(t, b, "status", "m1")
		if code != 0 || !regexpLine(out, "config error", "invalid_config") || !regexpLine(out, "presence.enter_dwell", "1s") {
			t.Errorf("status = %d\n%s", code, out)
		}
		// The refused version is shown as refused, not as applied (issue #24).
		if !regexpLine(out, "config version", "2 refused") || strings.Contains(out, "applied") {
			t.Errorf("status after a refusal does not show version 2 as refused:\n%s", out)
		}
		// The next change merges into the desired config (log.level=debug stays desired)
		// and fixes the refused key.
		code, out, errOut = ctl(t, b, "config", "m1", "presence.enter_dwell=5s")
		if code != 0 || !strings.Contains(out, "version 3") {
			t.Errorf("fixed config = %d %q %q", code, out, errOut)
		}
		code, _, errOut = ctl(t, b, "config", "m1", "presence.exit_grace")
		if code != 2 || !strings.Contains(errOut, "want key=value") {
			t.Errorf("config without = : %d %q", code, errOut)
		}
	})

	t.Run("events", func(t *testing.T) {
		// The event is recorded once mirrorctl's subscription is acknowledged (its SUBACK).
		c := &app{subscribed: func([]string) {
			m.db.Append(context.Background(), session.Event{Type: wire.EventSessionOpened, At: time.Now(), SessionID: "s-events"})
		}}
		code, out, errOut := ctlWith(t, b, c, "--timeout", "2s", "--json", "events", "m1")
		if code != 0 {
			t.Fatalf("events = %d %q", code, errOut)
		}
		var line struct {
			Mirror string
			Event  struct {
				Seq       uint64
				Type      string
				SessionID string `json:"session_id"`
			}
		}
		if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &line); err != nil {
			t.Fatalf("events output %q: %v", out, err)
		}
		if line.Mirror != "m1" || line.Event.Type != "session.opened" || line.Event.SessionID != "s-events" || line.Event.Seq != 1 {
			t.Errorf("event = %+v", line)
		}
	})

	// Without -f, with the flags after the command: the events of --timeout as one table,
	// each row under the header (issue #24).
	t.Run("events table", func(t *testing.T) {
		c := &app{subscribed: func([]string) {
			m.db.Append(context.Background(), session.Event{Type: wire.EventSessionOpened, At: time.Now(), SessionID: "s-table"})
			m.db.Append(context.Background(), session.Event{Type: wire.EventSessionClosed, At: time.Now(), SessionID: "s-table",
				Data: wire.SessionClosed{DurationMS: 1200, Reason: "absent"}})
		}}
		code, out, errOut := ctlWith(t, b, c, "events", "m1", "--timeout", "2s")
		if code != 0 {
			t.Fatalf("events m1 --timeout 2s = %d %q", code, errOut)
		}
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "MIRROR") {
			t.Fatalf("events printed %d lines, want the header and 2 events:\n%s", len(lines), out)
		}
		for _, col := range []string{"SEQ", "AT", "TYPE", "SESSION", "DATA"} {
			at := strings.Index(lines[0], col)
			for _, l := range lines[1:] {
				if at >= len(l) || l[at] == ' ' || l[at-1] != ' ' {
					t.Errorf("column %s starts at %d in the header but not in the row %q", col, at, l)
				}
			}
		}
		if !strings.Contains(lines[2], "session.closed") || !strings.Contains(lines[2], `"reason":"absent"`) {
			t.Errorf("second event row = %q", lines[2])
		}
		code, out, errOut = ctl(t, b, "events", "m9", "--timeout", "300ms")
		if code != 0 || out != "" || !strings.Contains(errOut, "no events within 300ms") {
			t.Errorf("events of a quiet mirror = %d %q %q, want exit 0 and the note on stderr", code, out, errOut)
		}
	})

	t.Run("ha-discovery", func(t *testing.T) {
		code, out, errOut := ctl(t, b, "ha-discovery", "--interval", "10s")
		if code != 0 || !strings.Contains(out, "announced 15 entities of 1 mirrors under homeassistant/") {
			t.Fatalf("ha-discovery = %d %q %q", code, out, errOut)
		}
		c := &app{broker: b.URL(), username: broker.OpsUser, password: "pw-ops", prefix: "mirror", timeout: 5 * time.Second}
		retained := func() map[string][]byte {
			s, err := c.connect()
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			got, err := s.retained(context.Background(), "homeassistant/#")
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		got := retained()
		var online struct {
			UniqueID    string `json:"unique_id"`
			StateTopic  string `json:"state_topic"`
			DeviceClass string `json:"device_class"`
			Device      struct {
				Identifiers []string `json:"identifiers"`
				SWVersion   string   `json:"sw_version"`
			} `json:"device"`
		}
		if err := json.Unmarshal(got["homeassistant/binary_sensor/fitmirror_m1/online/config"], &online); err != nil {
			t.Fatalf("online entity: %v (retained: %d topics)", err, len(got))
		}
		if online.UniqueID != "fitmirror_m1_online" || online.StateTopic != "mirror/m1/status" || online.DeviceClass != "connectivity" ||
			online.Device.SWVersion != "0.9.0" || len(online.Device.Identifiers) != 1 {
			t.Errorf("online entity = %+v", online)
		}
		var temp struct {
			StateTopic  string `json:"state_topic"`
			ExpireAfter int    `json:"expire_after"`
			Unit        string `json:"unit_of_measurement"`
		}
		json.Unmarshal(got["homeassistant/sensor/fitmirror_m1/temperature/config"], &temp)
		if temp.StateTopic != "mirror/m1/telemetry" || temp.ExpireAfter != 30 || temp.Unit != "°C" {
			t.Errorf("temperature entity = %+v", temp)
		}
		if code, out, _ := ctl(t, b, "ha-discovery", "--remove"); code != 0 || !strings.Contains(out, "removed 15") {
			t.Errorf("ha-discovery --remove = %d %q", code, out)
		}
		if got := retained(); len(got) != 0 {
			t.Errorf("after --remove %d discovery topics remain retained", len(got))
		}
	})

	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{{}, {"frobnicate"}, {"status"}, {"events", "a", "b"}, {"events", "--nope"}, {"ls", "x"}} {
			if code, _, errOut := ctl(t, b, args...); code != 2 || errOut == "" {
				t.Errorf("mirrorctl %v = %d %q, want 2 and a message", args, code, errOut)
			}
		}
		if code, _, errOut := ctl(t, b, "status", "m7"); code != 1 || !strings.Contains(errOut, `no status for "m7"`) {
			t.Errorf("status m7 = %d %q", code, errOut)
		}
	})
}

func TestBadCredentials(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{broker.OpsUser: "right"}})
	var o, e bytes.Buffer
	code := run(context.Background(), []string{"--broker", b.URL(), "--password", "wrong", "ls"}, &o, &e)
	if code != 2 || !strings.Contains(e.String(), "connect") || !strings.Contains(e.String(), `"_ops"`) {
		t.Errorf("ls with a wrong password = %d %q", code, e.String())
	}
}

// regexpLine reports whether some line of out contains every field, in order.
func regexpLine(out string, fields ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		rest, ok := l, true
		for _, f := range fields {
			i := strings.Index(rest, f)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(f):]
		}
		if ok {
			return true
		}
	}
	return false
}

// Issue 14: a desired configuration with a version at the top of int64 (forged, or the
// result of an overflow) made the next version wrap to a negative number, and the mirror
// ignore every later one. The mirror refuses out-of-range versions, and mirrorctl's next
// version skips them: configuration goes on working.
func TestConfigVersionOverflow(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"m1": "pw-m1", broker.OpsUser: "pw-ops"}})
	m := startMirror(t, b)
	waitOnline(t, b)
	ops := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("forger").
		SetUsername(broker.OpsUser).SetPassword("pw-ops"))
	if tok := ops.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer ops.Disconnect(0)
	for _, v := range []string{"9223372036854775807", "9007199254740992", "-3", "0"} {
		ops.Publish("mirror/m1/config/desired", 1, true, `{"version":`+v+`,"config":{"presence":{"enter_dwell":"9s"}}}`).Wait()
	}
	code, out, errOut := ctl(t, b, "config", "m1", "presence.enter_dwell=1s")
	if code != 0 || !strings.Contains(out, "applied config version 1") {
		t.Fatalf("config after forged versions = %d %q %q, want version 1 applied", code, out, errOut)
	}
	code, out, errOut = ctl(t, b, "config", "m1", "presence.enter_dwell=2s")
	if code != 0 || !strings.Contains(out, "applied config version 2") {
		t.Fatalf("next config = %d %q %q, want version 2 applied", code, out, errOut)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cfg.Presence.EnterDwell != 2*time.Second {
		t.Errorf("enter_dwell = %s, want 2s: no forged version was applied, every later one was", m.cfg.Presence.EnterDwell)
	}
}

// TestEventLineColumns: events -f pads every cell to its column, so rows printed one at a
// time line up under the header.
func TestEventLineColumns(t *testing.T) {
	header := eventLine("MIRROR", "SEQ", "AT", "TYPE", "SESSION", "PHOTO", "DATA")
	row := eventLine("store12-mirror3", "1234", "2026-12-07T02:42:23.123Z", "session.opened", "01JD0000000000000000000002", "-", "{}")
	for _, col := range []string{"SEQ", "AT", "TYPE", "SESSION", "PHOTO", "DATA"} {
		if at := strings.Index(header, col); at >= len(row) || row[at] == ' ' || row[at-1] != ' ' {
			t.Errorf("column %s starts at %d in %q but not in %q", col, at, header, row)
		}
	}
}

// TestHelpAndVersion: -h and --help on mirrorctl and on each command print the usage on
// stdout and exit 0, as do --version and version; the man page in docs/man is the one
// help --man prints.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range append([][]string{{"-h"}, {"--help"}, {"help"}}, helpArgs()...) {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "usage:\n  mirrorctl") || errOut.Len() != 0 {
			t.Errorf("mirrorctl %v = %d, stdout %q, stderr %q; want 0 and the usage on stdout", args, code, out.String(), errOut.String())
		}
	}
	for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 0 || strings.TrimSpace(out.String()) != cli.Version(version) {
			t.Errorf("mirrorctl %v = %d %q %q", args, code, out.String(), errOut.String())
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"help", "--man"}, &out, io.Discard); code != 0 {
		t.Fatalf("help --man = %d", code)
	}
	checkManPage(t, "mirrorctl", out.String())
}

func helpArgs() [][]string {
	var all [][]string
	for _, c := range cmdOrder {
		all = append(all, []string{c, "-h"}, []string{c, "--help"}, []string{"help", c})
	}
	return append(all, []string{"events", "m1", "-f", "--help"}, []string{"--timeout", "3s", "cmd", "-h"})
}

// checkManPage fails unless docs/man/NAME.1 is page (make man writes it) and names every
// command's flags.
func checkManPage(t *testing.T, name, page string) {
	t.Helper()
	have, err := os.ReadFile("../../docs/man/" + name + ".1")
	if err != nil || string(have) != page {
		t.Errorf("docs/man/%s.1 is missing or out of date (%v): run make man", name, err)
	}
	for _, c := range cmdOrder {
		if !strings.Contains(page, ".SS "+name+" "+strings.ReplaceAll(c, "-", `\-`)+"\n") {
			t.Errorf("%s(1) has no section for %s", name, c)
		}
	}
}

// A compromised mirror's strings reach the operator's terminal as text: escape sequences in
// its retained status (state, version, reason) and in a command's error message are shown
// with their control characters made visible, a long reason is cut, an unknown state is
// unknown(…), and --json stays exact.
func TestHostileStringsAreShownAsText(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"m1": "pw-m1", "m2": "pw-m2", broker.OpsUser: "pw-ops"}})
	startMirror(t, b)
	waitOnline(t, b)
	m2 := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("m2").SetUsername("m2").SetPassword("pw-m2"))
	if tok := m2.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer m2.Disconnect(0)
	evil := wire.Status{
		State:   "\x1b[2J\x1b[32monline",
		Version: "1.0\x1b]0;owned\x07",
		Reason:  "camera ok \u202eko aremac\u202c \u009b2J" + strings.Repeat("x", 5000),
		Since:   wire.Time{Time: time.Now()},
	}
	payload, _ := json.Marshal(evil)
	if tok := m2.Publish("mirror/m2/status", 1, true, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	raw := func(out string) bool {
		return strings.ContainsAny(out, "\x1b\x07\u202e\u202c\u009b") || !utf8.ValidString(out)
	}
	var lsOut string
	for range 50 { // the retained status is on its way
		if _, lsOut, _ = ctl(t, b, "ls"); strings.Contains(lsOut, "m2") {
			break
		}
	}
	_, statusOut, _ := ctl(t, b, "status", "m2")
	_, _, cmdErr := ctl(t, b, "cmd", "m1", "hostile")
	for name, out := range map[string]string{"ls": lsOut, "status": statusOut, "cmd": cmdErr} {
		if raw(out) {
			t.Errorf("%s printed raw control characters: %q", name, out)
		}
		if !strings.Contains(out, `\x1b[`) {
			t.Errorf("%s does not show the escape as \\x1b: %q", name, out)
		}
	}
	if !regexpLine(lsOut, "m2", `unknown(\x1b[2J\x1b[32monline)`, `1.0\x1b]0;owned\x07`, `\u202eko aremac\u202c \u009b2J`) {
		t.Errorf("ls row of m2:\n%s", lsOut)
	}
	if len(lsOut) > 1000 {
		t.Errorf("ls printed %d bytes: the 5 KB reason is not cut", len(lsOut))
	}
	if !strings.Contains(cmdErr, `failed: \x1b[2J\x1b[H\x1b[32mOK`) {
		t.Errorf("cmd error = %q", cmdErr)
	}
	_, jsonOut, _ := ctl(t, b, "--json", "ls")
	var rows []struct{ ID, State, Version string }
	if err := json.Unmarshal([]byte(jsonOut), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ID == "m2" && (r.State != evil.State || r.Version != evil.Version) {
			t.Errorf("ls --json m2 = %+v, want the exact strings", r)
		}
	}
}

func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain · 中文 ✓":       "plain · 中文 ✓",
		"a\tb\nc":            `a\x09b\x0ac`,
		"\x1b[31mred":        `\x1b[31mred`,
		"\u009b31m":          `\u009b31m`,
		"zero\u200bwidth":    `zero\u200bwidth`,
		"bad \xc3\x28 utf-8": `bad \xc3( utf-8`,
		"abcdef":             "abcdef",
		"ann\ufff9otation":   `ann\ufff9otation`,
		"tag\U000e0041":      `tag\U000e0041`,
		"soft\u00adhyphen":   `soft\u00adhyphen`,
	} {
		if got := safe(in, 100); got != want {
			t.Errorf("safe(%q) = %q, want %q", in, got, want)
		}
	}
	if got := safe(strings.Repeat("é", 20), 5); got != "ééééé…" {
		t.Errorf("cut = %q", got)
	}
	if got := state("warp"); got != "unknown(warp)" {
		t.Errorf("state(warp) = %q", got)
	}
}
