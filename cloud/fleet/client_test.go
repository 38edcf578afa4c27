package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/store"
)

func TestStatusLifecycle(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ops := connectPeer(t, b, "_ops", "ops-status", true)
	ops.subscribe("mirror/m1/status")
	c, stop := runClient(t, fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: "pw-m1", Version: "1.2.3", TelemetryInterval: -1})

	var s wire.Status
	m := ops.waitFor("mirror/m1/status", 10*time.Second, hasState("online"))
	if err := json.Unmarshal([]byte(m.Payload), &s); err != nil {
		t.Fatal(err)
	}
	if s.Version != "1.2.3" || s.Since.IsZero() {
		t.Errorf("online status = %+v, want version 1.2.3 and a since", s)
	}

	c.SetDegraded("camera lost")
	m = ops.waitFor("mirror/m1/status", 5*time.Second, hasState("degraded"))
	if !strings.Contains(m.Payload, `"reason":"camera lost"`) {
		t.Errorf("degraded status = %s, want reason camera lost", m.Payload)
	}
	c.SetHealthy()
	ops.waitFor("mirror/m1/status", 5*time.Second, hasState("online"))
	// While an update runs, the status names the version it installs.
	c.SetTargetVersion("1.3.0")
	ops.waitFor("mirror/m1/status", 5*time.Second, func(p string) bool { return strings.Contains(p, `"target_version":"1.3.0"`) })
	c.SetTargetVersion("")
	ops.waitFor("mirror/m1/status", 5*time.Second, func(p string) bool { return hasState("online")(p) && !strings.Contains(p, "target_version") })

	stop()
	m = ops.waitFor("mirror/m1/status", 5*time.Second, hasState("offline"))
	if strings.Contains(m.Payload, "connection lost") {
		t.Errorf("clean stop published %s, want its own offline status (not the Last Will)", m.Payload)
	}
	// Retained: a newcomer sees offline.
	late := connectPeer(t, b, "_ops", "ops-late", true)
	late.subscribe("mirror/+/status")
	m = late.waitFor("mirror/m1/status", 5*time.Second, nil)
	if !m.Retained || !hasState("offline")(m.Payload) {
		t.Errorf("retained status = %+v, want retained offline", m)
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	var endSessions atomic.Int32
	release := make(chan struct{})
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	_, _ = runClient(t, fleet.Options{
		Broker: b.URL(), DeviceID: "m1", Password: "pw-m1", Version: "v9", TelemetryInterval: -1,
		Now: func() time.Time { return now },
		Commands: map[string]fleet.CommandFunc{
			"end-session": func(ctx context.Context, _ json.RawMessage) (any, error) {
				n := endSessions.Add(1)
				<-release // still running when the repeat arrives
				return map[string]any{"ended": n}, nil
			},
			"set-light": func(ctx context.Context, args json.RawMessage) (any, error) {
				var a struct{ Scene string }
				if err := json.Unmarshal(args, &a); err != nil || a.Scene == "" {
					return nil, wire.BadArgs(`want {"scene":"…"}`)
				}
				return nil, nil
			},
			"restart":  func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("systemd not reachable") },
			"snapshot": func(context.Context, json.RawMessage) (any, error) { return "a frame", nil },
		},
	})
	ops := connectPeer(t, b, "_ops", "ops-cmd", true)
	ops.subscribe("mirror/m1/cmd/+/result", "mirror/m1/status")
	ops.waitFor("mirror/m1/status", 10*time.Second, hasState("online"))

	result := func(name, id string) wire.CommandResult {
		t.Helper()
		m := ops.waitFor("mirror/m1/cmd/"+name+"/result", 10*time.Second, func(p string) bool {
			return strings.Contains(p, `"id":"`+id+`"`)
		})
		var r wire.CommandResult
		if err := json.Unmarshal([]byte(m.Payload), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}

	// The same request twice (the second while the first still runs) executes once.
	ops.publish("mirror/m1/cmd/end-session", false, `{"id":"r1"}`)
	ops.publish("mirror/m1/cmd/end-session", false, `{"id":"r1"}`)
	close(release)
	first, second := result("end-session", "r1"), result("end-session", "r1")
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("repeated request got another result (-first +second):\n%s", diff)
	}
	if !first.OK || string(first.Data) != `{"ended":1}` {
		t.Errorf("end-session result = %+v, want ok with ended 1", first)
	}
	// And once more, after it finished.
	ops.publish("mirror/m1/cmd/end-session", false, `{"id":"r1"}`)
	if third := result("end-session", "r1"); !cmp.Equal(first, third) {
		t.Errorf("third result = %+v, want %+v", third, first)
	}
	if n := endSessions.Load(); n != 1 {
		t.Errorf("end-session ran %d times for one request id, want 1", n)
	}

	tests := []struct {
		name, payload string
		wantCode      string
		wantData      string
	}{
		{name: "ping", payload: `{"id":"p1"}`, wantData: `{"uptime_s":0,"version":"v9"}`},
		{name: "ping", payload: `{"id":"p2","expires_at":"2026-11-20T09:59:59.999Z"}`, wantCode: wire.CodeExpired},
		{name: "ping", payload: `{"id":"p3","expires_at":"2026-11-20T10:00:01.000Z"}`, wantData: `{"uptime_s":0,"version":"v9"}`},
		{name: "fly", payload: `{"id":"u1"}`, wantCode: wire.CodeUnknownCommand},
		{name: "set-light", payload: `{"id":"l1","args":{"scene":"daylight"}}`, wantData: `{}`},
		{name: "set-light", payload: `{"id":"l2","args":{"colour":"red"}}`, wantCode: wire.CodeBadArgs},
		{name: "set-light", payload: `{"args":{}}`, wantCode: wire.CodeBadArgs},
		{name: "restart", payload: `{"id":"x1"}`, wantCode: wire.CodeFailed},
		{name: "snapshot", payload: `{"id":"s1"}`, wantCode: wire.CodeForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name+" "+tc.payload, func(t *testing.T) {
			ops.publish("mirror/m1/cmd/"+tc.name, false, tc.payload)
			var req wire.CommandRequest
			json.Unmarshal([]byte(tc.payload), &req)
			r := result(tc.name, req.ID)
			code := ""
			if r.Error != nil {
				code = r.Error.Code
				if r.Error.Message == "" {
					t.Errorf("error without a message: %+v", r)
				}
			}
			if code != tc.wantCode || r.OK != (tc.wantCode == "") {
				t.Errorf("%s %s: ok=%v code=%q, want code %q", tc.name, tc.payload, r.OK, code, tc.wantCode)
			}
			if string(r.Data) != tc.wantData {
				t.Errorf("%s %s: data %s, want %s", tc.name, tc.payload, r.Data, tc.wantData)
			}
		})
	}
}

// presenceConfig is a stand-in for the agent's configuration, validated like its file.
type presenceConfig struct {
	EnterDwell time.Duration `json:"enter_dwell"`
}

func applyPresence(mu *sync.Mutex, cfg *presenceConfig) fleet.ApplyFunc {
	return func(ctx context.Context, version int64, sets []string) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		next := *cfg
		for _, s := range sets {
			k, v, _ := strings.Cut(s, "=")
			if k != "presence.enter_dwell" {
				return map[string]any{"presence": *cfg}, fmt.Errorf("unknown key %q", k)
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				return map[string]any{"presence": *cfg}, fmt.Errorf("%s: %q is not a duration", k, v)
			}
			if d < 0 || d > 30*time.Second {
				return map[string]any{"presence": *cfg}, fmt.Errorf("%s: must be between 0s and 30s (got %s)", k, d)
			}
			next.EnterDwell = d
		}
		*cfg = next
		return map[string]any{"presence": *cfg}, nil
	}
}

func TestDesiredConfig(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	var mu sync.Mutex
	cfg := presenceConfig{EnterDwell: 2 * time.Second}
	runClient(t, fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: "pw-m1", TelemetryInterval: -1,
		ApplyConfig: applyPresence(&mu, &cfg)})
	ops := connectPeer(t, b, "_ops", "ops-cfg", true)
	ops.subscribe("mirror/m1/config/reported", "mirror/m1/status")
	ops.waitFor("mirror/m1/status", 10*time.Second, hasState("online"))

	reported := func(version int64) wire.Reported {
		t.Helper()
		m := ops.waitFor("mirror/m1/config/reported", 10*time.Second, func(p string) bool {
			return strings.Contains(p, fmt.Sprintf(`"version":%d,`, version))
		})
		var r wire.Reported
		if err := json.Unmarshal([]byte(m.Payload), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}

	ops.publish("mirror/m1/config/desired", true, `{"version":1,"config":{"presence":{"enter_dwell":"1s"}}}`)
	r := reported(1)
	if r.Error != nil || string(r.Config) != `{"presence":{"enter_dwell":1000000000}}` || r.AppliedAt.IsZero() {
		t.Errorf("reported v1 = %+v (config %s), want applied 1s", r, r.Config)
	}

	ops.publish("mirror/m1/config/desired", true, `{"version":2,"config":{"presence":{"enter_dwell":"45s"}}}`)
	r = reported(2)
	want := &wire.Error{Code: "invalid_config", Message: "presence.enter_dwell: must be between 0s and 30s (got 45s)"}
	if diff := cmp.Diff(want, r.Error); diff != "" {
		t.Errorf("reported v2 error (-want +got):\n%s", diff)
	}
	mu.Lock()
	if cfg.EnterDwell != time.Second {
		t.Errorf("after an invalid desired config enter_dwell = %s, want 1s (kept)", cfg.EnterDwell)
	}
	mu.Unlock()
	if string(r.Config) != `{"presence":{"enter_dwell":1000000000}}` {
		t.Errorf("reported v2 config = %s, want the config still in force", r.Config)
	}

	ops.publish("mirror/m1/config/desired", true, `{"version":3,"config":"nope"}`)
	if r := reported(3); r.Error == nil || r.Error.Code != "invalid_config" {
		t.Errorf("reported v3 = %+v, want invalid_config", r)
	}
}

func TestBindingsOnce(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	got := make(chan wire.Binding, 10)
	runClient(t, fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: "pw-m1", TelemetryInterval: -1,
		OnBinding: func(_ context.Context, b wire.Binding) { got <- b }})
	hub := connectPeer(t, b, "_hub", "hub", true)
	hub.subscribe("mirror/m1/status")
	hub.waitFor("mirror/m1/status", 10*time.Second, hasState("online"))

	b1 := `{"binding_id":"01J0000000000000000000000A","photo_id":"p1","scene":"s1","event":"SCAN","user":"h","at":"2026-11-20T10:00:00.000Z"}`
	b2 := `{"binding_id":"01J0000000000000000000000B","photo_id":"p2","scene":"s2","event":"subscribe","user":"h","at":"2026-11-20T10:00:01.000Z"}`
	for _, p := range []string{b1, b1, `{"photo_id":"p9"}`, "not json", b1, b2} {
		hub.publish("mirror/m1/binding", false, p)
	}
	var ids []string
	deadline := time.After(10 * time.Second)
	for len(ids) < 2 {
		select {
		case b := <-got:
			ids = append(ids, b.BindingID+"/"+b.PhotoID)
		case <-deadline:
			t.Fatalf("bindings delivered: %v, want 2", ids)
		}
	}
	// b2 was published last: by the time it arrived every repeat of b1 had been handled
	// (the handlers of one connection may run concurrently, so wait for the PUBACKs' effect).
	select {
	case b := <-got:
		t.Errorf("binding %s delivered again", b.BindingID)
	case <-time.After(300 * time.Millisecond):
	}
	want := []string{"01J0000000000000000000000A/p1", "01J0000000000000000000000B/p2"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("bindings (-want +got):\n%s", diff)
	}
}

// TestDeviceIsolation: m1 can neither read nor write m2's topics. mosquitto grants the
// SUBSCRIBE and PUBACKs the PUBLISH, so the test asserts that nothing was delivered, after a
// positive control that proves the same connections do deliver what is allowed.
func TestDeviceIsolation(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	var m2Ended atomic.Int32
	runClient(t, fleet.Options{Broker: b.URL(), DeviceID: "m2", Password: "pw-m2", TelemetryInterval: 50 * time.Millisecond,
		Commands: map[string]fleet.CommandFunc{"end-session": func(context.Context, json.RawMessage) (any, error) {
			m2Ended.Add(1)
			return nil, nil
		}}})
	ops := connectPeer(t, b, "_ops", "ops-iso", true)
	ops.subscribe("mirror/#")
	ops.waitFor("mirror/m2/status", 10*time.Second, hasState("online"))

	rogue := connectPeer(t, b, "m1", "m1", true)
	rogue.subscribe("mirror/m2/#", "mirror/#", "#")
	rogue.publish("mirror/m2/cmd/end-session", false, `{"id":"evil"}`)
	rogue.publish("mirror/m2/status", true, `{"state":"offline","reason":"spoofed"}`)
	rogue.publish("mirror/m2/events", false, `{"seq":999}`)
	// Positive controls: m1's own topic reaches the operator, and m2's telemetry and a real
	// command round trip flow while m1 is subscribed.
	rogue.publish("mirror/m1/events", false, `{"seq":1}`)
	ops.waitFor("mirror/m1/events", 5*time.Second, nil)
	ops.publish("mirror/m2/cmd/ping", false, `{"id":"control"}`)
	ops.waitFor("mirror/m2/cmd/ping/result", 5*time.Second, nil)
	ops.waitFor("mirror/m2/telemetry", 5*time.Second, nil)
	ops.publish("mirror/m1/cmd/ping", false, `{"id":"to-m1"}`)
	rogue.waitFor("mirror/m1/cmd/ping", 5*time.Second, nil) // m1's subscription works

	if got := rogue.received("mirror/m2/"); len(got) != 0 {
		t.Errorf("m1 received %d messages of m2, e.g. %+v", len(got), got[0])
	}
	if n := m2Ended.Load(); n != 0 {
		t.Errorf("m2 ran end-session %d times on m1's request", n)
	}
	for _, m := range ops.received("mirror/m2/") {
		if strings.Contains(m.Payload, "spoofed") || strings.Contains(m.Payload, "999") {
			t.Errorf("m1's publish reached %s: %s", m.Topic, m.Payload)
		}
	}
	for _, m := range ops.received("mirror/m2/cmd/end-session") {
		t.Errorf("m1's command reached %s", m.Topic)
	}
}

// TestEventsInOrder drains a real SQLite outbox: events appended before the connection and
// while connected arrive in order, seq without gaps, and the outbox empties (acked after
// PUBACK only).
func TestEventsInOrder(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	db, err := store.OpenDB(filepath.Join(t.TempDir(), "mirror.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	appendN := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := db.Append(ctx, session.Event{Type: wire.EventSessionOpened, At: time.Now(), SessionID: fmt.Sprintf("s%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	hub := connectPeer(t, b, "_hub", "hub-events", false)
	hub.subscribe("mirror/+/events")
	appendN(70) // more than one batch, before connecting
	runClient(t, fleet.Options{Broker: b.URL(), DeviceID: "m3", Password: "pw-m3", TelemetryInterval: -1, Outbox: db, EventBatch: 8})
	appendN(30)
	seqs := collectSeqs(t, hub, "mirror/m3/events", 100, 20*time.Second)
	if diff := cmp.Diff(seqRange(1, 100), seqs); diff != "" {
		t.Errorf("seqs (-want +got):\n%s", diff)
	}
	// The outbox empties once every PUBACK arrived (the Ack after the last one may lag a bit).
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := db.Depth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox depth %d after every event was delivered, want 0", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// collectSeqs reads n distinct event seqs from topic, failing on a gap or disorder; a repeat
// of an already seen seq (QoS 1 redelivery after a lost PUBACK) is skipped and logged.
func collectSeqs(t *testing.T, p *peer, topic string, n int, timeout time.Duration) []uint64 {
	t.Helper()
	var seqs []uint64
	dups := 0
	deadline := time.After(timeout)
	for len(seqs) < n {
		select {
		case m := <-p.ch:
			if m.Topic != topic {
				continue
			}
			var ev struct {
				Seq  uint64 `json:"seq"`
				ID   string `json:"id"`
				Type string `json:"type"`
				At   string `json:"at"`
			}
			if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil || ev.ID == "" || ev.Type == "" || len(ev.At) != len("2026-11-20T10:00:00.123Z") {
				t.Fatalf("bad event payload %s (%v)", m.Payload, err)
			}
			if len(seqs) > 0 && ev.Seq <= seqs[len(seqs)-1] {
				dups++
				continue
			}
			seqs = append(seqs, ev.Seq)
		case <-deadline:
			t.Fatalf("%s: got %d of %d events within %s (last seqs %v)", topic, len(seqs), n, timeout, tail(seqs))
		}
	}
	if dups > 0 {
		t.Logf("%s: %d redelivered events skipped", topic, dups)
	}
	return seqs
}

func tail(s []uint64) []uint64 {
	if len(s) > 5 {
		return s[len(s)-5:]
	}
	return s
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// TestQueuedCommands: the session is persistent, so a command sent while the mirror is away
// is delivered when it reconnects (before its own SUBSCRIBE); one that expired meanwhile is
// refused.
func TestQueuedCommands(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	var ran atomic.Int32
	now := time.Now()
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	opts := fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: "pw-m1", TelemetryInterval: -1,
		Now: func() time.Time { return time.Unix(0, clock.Load()) },
		Commands: map[string]fleet.CommandFunc{"end-session": func(context.Context, json.RawMessage) (any, error) {
			ran.Add(1)
			return nil, nil
		}}}
	c1, stop1 := runClient(t, opts)
	waitConnected(t, c1)
	stop1() // clean disconnect; the broker keeps the session

	ops := connectPeer(t, b, "_ops", "ops-queued", true)
	ops.subscribe("mirror/m1/cmd/+/result")
	exp := func(d time.Duration) string { return now.Add(d).UTC().Format(wire.TimeFormat) }
	ops.publish("mirror/m1/cmd/end-session", false, `{"id":"q1","expires_at":"`+exp(time.Minute)+`"}`)
	ops.publish("mirror/m1/cmd/end-session", false, `{"id":"q2","expires_at":"`+exp(10*time.Second)+`"}`)
	clock.Store(now.Add(30 * time.Second).UnixNano()) // the mirror comes back 30 s later

	runClient(t, opts)
	got := map[string]string{}
	for len(got) < 2 {
		m := ops.waitFor("mirror/m1/cmd/end-session/result", 10*time.Second, nil)
		var r wire.CommandResult
		json.Unmarshal([]byte(m.Payload), &r)
		code := "ok"
		if r.Error != nil {
			code = r.Error.Code
		}
		got[r.ID] = code
	}
	if diff := cmp.Diff(map[string]string{"q1": "ok", "q2": "expired"}, got); diff != "" {
		t.Errorf("queued commands (-want +got):\n%s", diff)
	}
	if n := ran.Load(); n != 1 {
		t.Errorf("end-session ran %d times, want 1", n)
	}
}

// TestEventBadData: an event whose data is not JSON is published without it; seq stays whole.
func TestEventBadData(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ob := newMemOutbox()
	ob.Append("session.opened")
	ob.Append("qr.shown")
	ob.Append("session.closed")
	ob.mu.Lock()
	ob.events[1].Data = json.RawMessage(`{broken`)
	ob.mu.Unlock()
	hub := connectPeer(t, b, "_hub", "hub-bad", true)
	hub.subscribe("mirror/m1/events")
	runClient(t, fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: "pw-m1", TelemetryInterval: -1, Outbox: ob})
	var got []string
	for len(got) < 3 {
		got = append(got, hub.waitFor("mirror/m1/events", 10*time.Second, nil).Payload)
	}
	if !strings.Contains(got[1], `"seq":2`) || !strings.Contains(got[1], `"data":{}`) {
		t.Errorf("event 2 = %s, want seq 2 with data {}", got[1])
	}
	if !strings.Contains(got[2], `"seq":3`) {
		t.Errorf("event 3 = %s", got[2])
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := context.Background()
	if err := fleet.Probe(ctx, fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: "pw-m1"}); err != nil {
		t.Errorf("Probe with good credentials: %v", err)
	}
	err := fleet.Probe(ctx, fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: "wrong"})
	if err == nil || !strings.Contains(err.Error(), "as m1") {
		t.Errorf("Probe with a wrong password = %v, want an error naming m1", err)
	} else {
		t.Logf("wrong password: %v", err)
	}
	dead, _ := mosquittotest.FreePort()
	err = fleet.Probe(ctx, fleet.Options{Broker: "tcp://127.0.0.1:" + fmt.Sprint(dead), DeviceID: "m1", ConnectTimeout: 2 * time.Second})
	if err == nil {
		t.Error("Probe of a closed port = nil")
	} else {
		t.Logf("closed port: %v", err)
	}
}

// The mirror refuses a desired configuration whose version is out of range (reporting version
// 0, never the bad number) and still applies the next valid one.
func TestDesiredConfigVersionRange(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	var mu sync.Mutex
	cfg := presenceConfig{EnterDwell: 2 * time.Second}
	runClient(t, fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: "pw-m1", TelemetryInterval: -1,
		ApplyConfig: applyPresence(&mu, &cfg)})
	ops := connectPeer(t, b, "_ops", "ops-range", true)
	ops.subscribe("mirror/m1/config/reported", "mirror/m1/status")
	ops.waitFor("mirror/m1/status", 10*time.Second, hasState("online"))
	for _, v := range []string{"9007199254740992", "-1"} {
		ops.publish("mirror/m1/config/desired", true, `{"version":`+v+`,"config":{"presence":{"enter_dwell":"9s"}}}`)
		m := ops.waitFor("mirror/m1/config/reported", 10*time.Second, func(p string) bool { return strings.Contains(p, "out of range") })
		var r wire.Reported
		json.Unmarshal([]byte(m.Payload), &r)
		if r.Version != 0 || r.Error == nil || r.Error.Code != "invalid_config" {
			t.Errorf("version %s reported %+v, want version 0 and invalid_config", v, r)
		}
	}
	ops.publish("mirror/m1/config/desired", true, `{"version":5,"config":{"presence":{"enter_dwell":"1s"}}}`)
	ops.waitFor("mirror/m1/config/reported", 10*time.Second, func(p string) bool { return strings.Contains(p, `"version":5,`) })
	mu.Lock()
	defer mu.Unlock()
	if cfg.EnterDwell != time.Second {
		t.Errorf("enter_dwell = %s, want 1s from version 5", cfg.EnterDwell)
	}
}

// A malformed command request is answered with the id it carried where one can be read, and
// no error message echoes a large argument back.
func TestMalformedCommandRequests(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	runClient(t, fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: "pw-m1", TelemetryInterval: -1,
		Commands: map[string]fleet.CommandFunc{
			"set-light": func(_ context.Context, args json.RawMessage) (any, error) {
				var a struct{ Scene string }
				json.Unmarshal(args, &a)
				return nil, wire.BadArgs("no scene %q", a.Scene) // quotes what it got
			},
		}})
	ops := connectPeer(t, b, "_ops", "ops-malformed", true)
	ops.subscribe("mirror/m1/cmd/+/result", "mirror/m1/status")
	ops.waitFor("mirror/m1/status", 10*time.Second, hasState("online"))
	big := strings.Repeat("A", 100<<10)
	tests := []struct {
		payload, wantID string
	}{
		{`{"id":"cut1","args":{"scene":`, "cut1"},                // cut short after the id
		{`{"args":{"id":"inner"},"id":"outer","x":`, "outer"},    // the top-level id, not one inside args
		{`{"id":"typed","args":"x","expires_at":42}`, "typed"},   // a field of the wrong type
		{`{"args":{"id":"inner"},"x":`, ""},                      // no top-level id before the cut
		{`{"id":"` + strings.Repeat("x", 200) + `"}`, ""},        // an id too long to echo
		{`{"id":"huge","args":{"scene":"` + big + `"}}`, "huge"}, // a large argument, quoted by the handler
	}
	for i, tt := range tests {
		ops.publish("mirror/m1/cmd/set-light", false, tt.payload)
		var got []msg
		for deadline := time.Now().Add(10 * time.Second); len(got) <= i; time.Sleep(5 * time.Millisecond) {
			if got = ops.received("mirror/m1/cmd/set-light/result"); time.Now().After(deadline) {
				t.Fatalf("request %d: %d answers, want %d", i, len(got), i+1)
			}
		}
		var r wire.CommandResult
		if err := json.Unmarshal([]byte(got[i].Payload), &r); err != nil {
			t.Fatal(err)
		}
		if r.ID != tt.wantID || r.Error == nil || r.Error.Code != wire.CodeBadArgs {
			t.Errorf("request %.60q answered %+v, want id %q and bad_args", tt.payload, r, tt.wantID)
		}
		if len(got[i].Payload) > 1024 {
			t.Errorf("request %.60q: answer of %d bytes echoes the argument", tt.payload, len(got[i].Payload))
		}
	}
}

// fakeHub is a BindingHub: pending bindings to hand out, acknowledgements received, and
// failures to answer first.
type fakeHub struct {
	mu      sync.Mutex
	pending []wire.Binding
	acked   []string
	fails   int // acknowledgements to refuse (hub down)
	asked   int
}

func (h *fakeHub) PendingBindings(context.Context) ([]wire.Binding, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked++
	return append([]wire.Binding(nil), h.pending...), nil
}

func (h *fakeHub) AckBindings(_ context.Context, ids []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fails > 0 {
		h.fails--
		return errors.New("hub unreachable")
	}
	h.acked = append(h.acked, ids...)
	return nil
}

func (h *fakeHub) state() (asked int, acked []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.asked, append([]string(nil), h.acked...)
}

// With a BindingHub, the client takes the bindings it missed when it connects, acknowledges
// every binding it receives (repeats too: the hub delivers until acknowledged), retries the
// acknowledgement while the hub is down, and hands each binding_id to the agent once.
func TestBindingsAcknowledgedAndCaughtUp(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	missed := wire.Binding{BindingID: "01J0000000000000000000000M", PhotoID: "pm", Event: "SCAN"}
	fh := &fakeHub{pending: []wire.Binding{missed}, fails: 1}
	got := make(chan wire.Binding, 10)
	runClient(t, fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: "pw-m1", TelemetryInterval: -1, Hub: fh,
		OnBinding: func(_ context.Context, b wire.Binding) { got <- b }})
	hub := connectPeer(t, b, "_hub", "hub", true)
	hub.subscribe("mirror/m1/status")
	hub.waitFor("mirror/m1/status", 10*time.Second, hasState("online"))
	b1 := `{"binding_id":"01J0000000000000000000000A","photo_id":"p1","scene":"s1","event":"SCAN","user":"h","at":"2026-11-20T10:00:00.000Z"}`
	// The missed one again over MQTT (the hub's re-delivery), and a new one twice.
	hub.publish("mirror/m1/binding", false, `{"binding_id":"01J0000000000000000000000M","photo_id":"pm","scene":"s","event":"SCAN","user":"h","at":"2026-11-20T10:00:00.000Z"}`)
	hub.publish("mirror/m1/binding", false, b1)
	hub.publish("mirror/m1/binding", false, b1)
	var photos []string
	for len(photos) < 2 {
		select {
		case b := <-got:
			photos = append(photos, b.PhotoID)
		case <-time.After(10 * time.Second):
			t.Fatalf("bindings handed over: %v, want pm and p1", photos)
		}
	}
	select {
	case b := <-got:
		t.Errorf("binding %s handed over twice", b.BindingID)
	case <-time.After(500 * time.Millisecond):
	}
	deadline := time.Now().Add(15 * time.Second) // the first acknowledgement fails: retried after ~1 s
	for {
		asked, acked := fh.state()
		seen := map[string]bool{}
		for _, id := range acked {
			seen[id] = true
		}
		if asked >= 1 && seen["01J0000000000000000000000M"] && seen["01J0000000000000000000000A"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub asked %d times, acknowledged %v; want the missed and the new binding acknowledged", asked, acked)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTelemetryCarriesVersions: telemetry names the running version and, while an update
// runs, the version it installs, as the status does.
func TestTelemetryCarriesVersions(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ops := connectPeer(t, b, "_ops", "ops-telemetry", true)
	ops.subscribe("mirror/m1/telemetry")
	c, _ := runClient(t, fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: "pw-m1", Version: "1.2.3", TelemetryInterval: 50 * time.Millisecond})
	ops.waitFor("mirror/m1/telemetry", 10*time.Second, func(p string) bool {
		return strings.Contains(p, `"version":"1.2.3"`) && !strings.Contains(p, "target_version")
	})
	c.SetTargetVersion("2.0.0")
	ops.waitFor("mirror/m1/telemetry", 5*time.Second, func(p string) bool { return strings.Contains(p, `"target_version":"2.0.0"`) })
}
