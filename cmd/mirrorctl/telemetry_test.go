package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// hostileTelemetry is the telemetry of a compromised mirror: its strings carry terminal
// escapes and bidi overrides.
func hostileTelemetry() wire.Telemetry {
	temp := 61.25
	return wire.Telemetry{At: wire.Time{Time: time.Now()}, UptimeS: 3725, Version: "2.0\x1b]0;owned\x07", TargetVersion: "2.1",
		FPS: 14.5, DetectMSP50: 12.25, CPUPct: 37.5, RSSMB: 180, TempC: &temp, DiskFreeMB: 900, Camera: "\x1b[2Jok", Display: "ok",
		Throttled: &wire.Throttled{Flags: "0x50005", Now: []string{"under-voltage"}},
		Problems:  []wire.Problem{{Part: "camera", State: "frozen", Reason: "stuck \u202eko\u202c \x1b[31m"}},
		Session:   wire.TelemetrySession{State: "active", ID: "S\x1b[1A"}, OutboxDepth: 3,
		Counters: wire.Counters{Sessions: 12, Photos: 9, QRShown: 11, Bound: 2}}
}

// fakeMirror is m2: an MQTT client with m2's account that publishes what a test gives it.
func fakeMirror(t *testing.T, b *mosquittotest.Broker) func(topic string, retained bool, v any) {
	t.Helper()
	m2 := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("m2").SetUsername("m2").SetPassword("pw-m2").SetProtocolVersion(4))
	if tok := m2.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { m2.Disconnect(0) })
	return func(topic string, retained bool, v any) {
		p, _ := json.Marshal(v)
		if tok := m2.Publish(topic, 1, retained, p); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Errorf("publish %s: %v", topic, tok.Error())
		}
	}
}

// rawControls reports whether out has a control or format character a mirror sent.
func rawControls(out string) bool {
	return strings.ContainsAny(out, "\x1b\x07\u202e\u202c") || !utf8.ValidString(out)
}

// telemetry ID waits for the next telemetry message and prints it with units; a mirror's
// strings are escaped, --json is exact, and a mirror that sends none is a timeout (exit 3).
func TestTelemetry(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"m1": "pw-m1", "m2": "pw-m2", broker.OpsUser: "pw-ops"}})
	publish := fakeMirror(t, b)
	tele := hostileTelemetry()
	send := &app{subscribed: func([]string) { publish("mirror/m2/telemetry", false, tele) }}
	code, out, errOut := ctlWith(t, b, send, "telemetry", "m2")
	if code != 0 {
		t.Fatalf("telemetry m2 = %d %q", code, errOut)
	}
	for _, want := range []string{"mirror m2", `version 2.0\x1b]0;owned\x07 (installing 2.1)`, "uptime 1h2m5s",
		`camera \x1b[2Jok, 14.5 fps, detection 12.2 ms (median)`, "cpu 37.5%", "memory 180 MB", "temperature 61.2 °C",
		"throttled 0x50005, now under-voltage", "disk free 900 MB", `session active S\x1b[1A`, "outbox 3 waiting",
		"since start 12 sessions, 9 photos, 11 QR shown, 2 bound (18.2%)", `problem camera frozen: stuck \u202eko\u202c \x1b[31m`} {
		if !regexpLine(out, strings.Fields(want)...) {
			t.Errorf("telemetry lacks a line %q:\n%s", want, out)
		}
	}
	if rawControls(out) || strings.Contains(out, "0.18181818") {
		t.Errorf("telemetry printed raw control characters or raw floats: %q", out)
	}
	send = &app{subscribed: func([]string) { publish("mirror/m2/telemetry", false, tele) }}
	code, out, _ = ctlWith(t, b, send, "telemetry", "m2", "--json")
	var got wire.Telemetry
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || got.Version != tele.Version || got.Camera != tele.Camera {
		t.Errorf("telemetry --json = %d %q (%v), want the exact message", code, out, err)
	}
	code, _, errOut = ctl(t, b, "telemetry", "m1", "--timeout", "500ms")
	if code != exitTimeout || !strings.Contains(errOut, "no telemetry from m1 within 500ms") {
		t.Errorf("telemetry of a quiet mirror = %d %q, want 3 and the reason", code, errOut)
	}
	for _, args := range [][]string{{"telemetry"}, {"telemetry", "bad/id"}, {"telemetry", "m1", "m2"}} {
		if code, _, errOut := ctl(t, b, args...); code != exitUsage || errOut == "" {
			t.Errorf("%v = %d %q, want 2 and a message", args, code, errOut)
		}
	}
}

// top lists every mirror with its status and telemetry, problems first: m1 (a real fleet
// client, status only) and m2 (a compromised mirror, offline in its retained status, with
// telemetry); --once prints one table after --timeout, escaped.
func TestTop(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"m1": "pw-m1", "m2": "pw-m2", broker.OpsUser: "pw-ops"}})
	startMirror(t, b)
	waitOnline(t, b)
	publish := fakeMirror(t, b)
	publish("mirror/m2/status", true, wire.Status{State: wire.StateOffline, Version: "2.0\x1b]0;owned\x07", Reason: "lost \x1b[2J", Since: wire.Time{Time: time.Now()}})
	send := &app{subscribed: func([]string) { publish("mirror/m2/telemetry", false, hostileTelemetry()) }}
	code, out, errOut := ctlWith(t, b, send, "top", "--once", "--timeout", "1500ms")
	if code != 0 {
		t.Fatalf("top --once = %d %q", code, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "MIRROR") || !strings.HasPrefix(lines[1], "m2 ") || !strings.HasPrefix(lines[2], "m1 ") {
		t.Fatalf("top printed, want the header, m2 (offline) then m1:\n%s", out)
	}
	if !regexpLine(lines[1], "m2", "offline", `2.0\x1b]0;owned\x07`, "s ago", "14.5", "38%", "61.2", "°C", "900", "MB", `\x1b[2Jok`, "active", "2/11", "camera", "frozen:") {
		t.Errorf("m2's row: %q", lines[1])
	}
	if !regexpLine(lines[2], "m1", "online", "0.9.0", "-", "-") {
		t.Errorf("m1's row: %q", lines[2])
	}
	if rawControls(out) {
		t.Errorf("top printed raw control characters: %q", out)
	}
	for _, col := range []string{"FPS", "CPU", "TEMP", "DISK", "BOUND/QR"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("top's header lacks %s: %q", col, lines[0])
		}
	}
	code, out, _ = ctlWith(t, b, &app{}, "--json", "top", "--timeout", "1s")
	var rows []topRow
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) != 2 || rows[0].ID != "m2" || rows[0].Status.Version != "2.0\x1b]0;owned\x07" {
		t.Errorf("top --json = %d %q (%v)", code, out, err)
	}
	if code, _, errOut := ctl(t, b, "top", "--interval", "0s"); code != exitUsage || !strings.Contains(errOut, "--interval") {
		t.Errorf("top --interval 0s = %d %q", code, errOut)
	}
}

// topTake keeps the fleet as top shows it (each redraw prints topTable): a cleared retained
// status removes the mirror, a topic of no device ID is ignored, and a mirror with telemetry
// but no status is unknown.
func TestTopTake(t *testing.T) {
	c := &app{prefix: "mirror"}
	var out bytes.Buffer
	c.out = &out
	rows := map[string]*topRow{}
	p, _ := json.Marshal(hostileTelemetry())
	c.topTake(rows, msg{topic: "mirror/m2/telemetry", payload: p})
	c.topTake(rows, msg{topic: "mirror/m3/status", payload: []byte(`{"state":"online"}`)})
	c.topTake(rows, msg{topic: "mirror/m3/status", payload: nil}) // cleared: m3 is gone
	c.topTake(rows, msg{topic: "mirror/bad id/status", payload: []byte(`{"state":"online"}`)})
	c.topTable(rows, time.Now(), time.Minute)
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 2 || !regexpLine(lines[1], "m2", "unknown", "-") {
		t.Errorf("table = %q, want m2 alone (no status: unknown)", out.String())
	}
}

// A mirror whose status says online or degraded but whose telemetry has not come for
// --silent-after is silent, sorted after offline and before degraded; one that is offline stays
// offline; one heard from lately is what its status says. A mirror not heard from at all is
// counted from top's start.
func TestTopSilent(t *testing.T) {
	c := &app{prefix: "mirror"}
	var out bytes.Buffer
	c.out = &out
	now := time.Now()
	st := func(s string) *wire.Status { return &wire.Status{State: s} }
	tel := &wire.Telemetry{}
	rows := map[string]*topRow{
		"a-fresh":    {ID: "a-fresh", Status: st(wire.StateOnline), Telemetry: tel, heard: now.Add(-10 * time.Second)},
		"b-hung":     {ID: "b-hung", Status: st(wire.StateOnline), Telemetry: tel, heard: now.Add(-2 * time.Minute)},
		"c-degraded": {ID: "c-degraded", Status: st(wire.StateDegraded), Telemetry: tel, heard: now.Add(-5 * time.Second)},
		"d-off":      {ID: "d-off", Status: st(wire.StateOffline), heard: now.Add(-time.Hour)},
		"e-never":    {ID: "e-never", Status: st(wire.StateDegraded)},
	}
	if err := c.topTable(rows, now.Add(-2*time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := [][2]string{{"d-off", "offline"}, {"b-hung", "silent"}, {"e-never", "silent"}, {"c-degraded", "degraded"}, {"a-fresh", "online"}}
	if len(lines) != len(want)+1 {
		t.Fatalf("table:\n%s", out.String())
	}
	for i, w := range want {
		if !regexpLine(lines[i+1], w[0], w[1]) {
			t.Errorf("row %d = %q, want %s %s", i+1, lines[i+1], w[0], w[1])
		}
	}
	out.Reset()
	rows = map[string]*topRow{"e-never": {ID: "e-never", Status: st(wire.StateOnline)}}
	c.topTable(rows, now, time.Minute) // top has only just started: not silent yet
	if !strings.Contains(out.String(), "online") {
		t.Errorf("a mirror not heard from within silent-after of top's start: %q, want online", out.String())
	}
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{broker.OpsUser: "pw-ops"}})
	if code, _, errOut := ctl(t, b, "top", "--silent-after", "0s"); code != exitUsage || !strings.Contains(errOut, "--silent-after") {
		t.Errorf("top --silent-after 0s = %d %q", code, errOut)
	}
}

// analytics ID prints the mirror's analytics result with percentages and durations.
func TestAnalyticsCommand(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"m1": "pw-m1", broker.OpsUser: "pw-ops"}})
	startMirror(t, b)
	waitOnline(t, b)
	code, out, errOut := ctl(t, b, "analytics", "m1", "--since", "48h")
	if code != 0 || !regexpLine(out, "bound", "2", "(conversion", "50.0%)") || !regexpLine(out, "average", "dwell", "1m23.4s") {
		t.Errorf("analytics m1 = %d %q %q", code, out, errOut)
	}
	for _, args := range [][]string{{"analytics"}, {"analytics", "m1", "m2"}, {"analytics", "m1", "--since", "-1h"}} {
		if code, _, errOut := ctl(t, b, args...); code != exitUsage || errOut == "" {
			t.Errorf("%v = %d %q, want 2 and a message", args, code, errOut)
		}
	}
}
