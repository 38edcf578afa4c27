package console_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// hostile are the device-supplied strings of the tests: markup and terminal escapes.
const (
	hostileVersion = `1.2.3<script>alert(1)</script>`
	hostileReason  = "camera \x1b[31mlost\x1b[0m <img src=x onerror=alert(2)>"
)

// fleetEnv is a real mosquitto with the shipped ACL, the hub's connection to it as _hub
// feeding the console's fleet, and a mirror m1 (an MQTT client with m1's account) that
// answers commands.
type fleetEnv struct {
	*env
	mirror paho.Client
	mq     *mosquittotest.Broker
}

func newFleetEnv(t testing.TB, edit func(*console.Options)) *fleetEnv {
	t.Helper()
	mq := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{broker.HubUser: "hubpw", "m1": "m1pw"}})
	pub, err := hub.DialMQTT(t.Context(), hub.MQTTOptions{URL: mq.URL(), Username: broker.HubUser, Password: "hubpw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	e := newEnv(t, pub, nil, edit)
	for _, f := range e.fleet.Filters() {
		if err := pub.Subscribe(f, e.fleet.Handle); err != nil {
			t.Fatal(err)
		}
	}
	o := paho.NewClientOptions().AddBroker(mq.URL()).SetClientID("m1").SetUsername("m1").SetPassword("m1pw").
		SetCleanSession(false).SetProtocolVersion(4).SetConnectTimeout(5 * time.Second)
	m := paho.NewClient(o)
	if tok := m.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mirror connect: %v", tok.Error())
	}
	t.Cleanup(func() { m.Disconnect(0) })
	tok := m.Subscribe("mirror/m1/cmd/+", 1, func(c paho.Client, msg paho.Message) {
		name := strings.TrimPrefix(msg.Topic(), "mirror/m1/cmd/")
		var req wire.CommandRequest
		json.Unmarshal(msg.Payload(), &req)
		res := wire.CommandResult{ID: req.ID, OK: true, Data: json.RawMessage(`{"uptime_s":42,"version":"1.2.3"}`)}
		if name == wire.CmdRestart {
			res = wire.CommandResult{ID: req.ID, OK: false, Error: &wire.Error{Code: wire.CodeBusy, Message: "a shopper is at the mirror \x1b[2J"}}
		}
		b, _ := json.Marshal(res)
		c.Publish("mirror/m1/cmd/"+name+"/result", 1, false, b)
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	return &fleetEnv{env: e, mirror: m, mq: mq}
}

func (f *fleetEnv) publish(t testing.TB, topic string, retained bool, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if tok := f.mirror.Publish(topic, 1, retained, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// hostileMirror publishes m1's retained status and telemetry with markup and escapes in it.
func (f *fleetEnv) hostileMirror(t testing.TB) {
	t.Helper()
	f.publish(t, "mirror/m1/status", true, wire.Status{State: wire.StateDegraded, Version: hostileVersion, Reason: hostileReason, Since: wire.Time{Time: time.Now()}})
	temp := 61.5
	f.publish(t, "mirror/m1/telemetry", false, wire.Telemetry{At: wire.Time{Time: time.Now()}, FPS: 14.5, CPUPct: 37, TempC: &temp, DiskFreeMB: 2048,
		Camera: "lost", Problems: []wire.Problem{{Part: wire.PartCamera, State: "lost", Reason: hostileReason, Since: wire.Time{Time: time.Now()}}}})
}

// The hub hears a mirror over a real broker: /api/mirrors shows its state, versions, parts
// and measurements; the page shows its strings as text; operators ping, restart and end the
// session and see the results; a store is set and filters the fleet.
func TestFleetAndCommands(t *testing.T) {
	f := newFleetEnv(t, nil)
	op := f.login(t, "otto", f.addOperator(t, "otto", hubstore.RoleOperator))
	f.hostileMirror(t)
	var m console.Mirror
	waitFor(t, "m1 in the fleet with telemetry", func() bool {
		ms := op.mirrors(t, "")
		if len(ms) == 1 && ms[0].FPS != nil {
			m = ms[0]
			return true
		}
		return false
	})
	if m.ID != "m1" || m.State != console.StateDegraded || m.Version != hostileVersion || m.LastSeen == nil ||
		*m.CPU != 37 || *m.Temp != 61.5 || *m.DiskFreeMB != 2048 || *m.FPS != 14.5 || !m.CameraLost() {
		t.Errorf("m1 = %+v", m)
	}
	if len(m.Problems) != 1 || strings.ContainsRune(m.Problems[0].Reason, 0x1b) || !strings.Contains(m.Problems[0].Reason, `\x1b[31mlost`) {
		t.Errorf("problems = %+v, want the camera with its escape made visible", m.Problems)
	}
	_, raw := op.get(t, "/api/mirrors")
	for _, k := range []string{`"id"`, `"state"`, `"last_seen"`, `"version"`, `"target_version"`, `"store"`, `"problems"`, `"cpu"`, `"temp"`, `"disk"`, `"fps"`} {
		if !strings.Contains(raw, k) && k != `"target_version"` {
			t.Errorf("/api/mirrors lacks %s: %s", k, raw)
		}
	}
	_, page := op.get(t, "/")
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") || strings.ContainsRune(page, 0x1b) {
		t.Errorf("the page carries the mirror's markup or escapes as such:\n%s", page)
	}
	if !strings.Contains(page, "1.2.3&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(page, `\x1b[31mlost`) {
		t.Errorf("the page does not show the mirror's strings as text:\n%s", page)
	}

	resp, body := op.post(t, "/api/mirrors/m1/cmd/ping", "", true)
	var res console.Result
	json.Unmarshal([]byte(body), &res)
	if resp.StatusCode != 200 || !res.OK || !strings.Contains(string(res.Data), `"uptime_s":42`) {
		t.Errorf("ping: %s %s", resp.Status, body)
	}
	resp, body = op.post(t, "/api/mirrors/m1/cmd/restart", "", true)
	if resp.StatusCode != 200 || !strings.Contains(body, `"code":"busy"`) {
		t.Errorf("restart: %s %s, want the mirror's busy error", resp.Status, body)
	}
	if resp, body = op.post(t, "/api/mirrors/m1/cmd/end-session", "", true); resp.StatusCode != 200 {
		t.Errorf("end-session: %s %s", resp.Status, body)
	}
	if resp, _ = op.post(t, "/api/mirrors/m1/cmd/purge-photos", "", true); resp.StatusCode != 400 {
		t.Errorf("purge-photos from the console: %s, want 400", resp.Status)
	}
	if resp, body = op.post(t, "/api/mirrors/m1/store", `{"store":"Shanghai 1"}`, true); resp.StatusCode != 200 {
		t.Errorf("set store: %s %s", resp.Status, body)
	}
	if resp, _ = op.post(t, "/api/mirrors/m1/store", `{"store":"<b>"}`, true); resp.StatusCode != 400 {
		t.Errorf("a store named <b>: %s, want 400", resp.Status)
	}
	ms := op.mirrors(t, "?store=Shanghai+1&state=degraded")
	if len(ms) != 1 || ms[0].Store != "Shanghai 1" || len(ms[0].Results) != 3 || ms[0].Results[1].Command != "restart" {
		t.Errorf("filtered fleet = %+v", ms)
	}
	if ms := op.mirrors(t, "?store=Beijing"); len(ms) != 0 {
		t.Errorf("store Beijing = %+v, want none", ms)
	}
	if ms := op.mirrors(t, "?state=online"); len(ms) != 0 {
		t.Errorf("state online = %+v, want none", ms)
	}
	if _, page = op.get(t, "/"); strings.ContainsRune(page, 0x1b) || !strings.Contains(page, `end-session: ok {&#34;uptime_s&#34;:42`) {
		t.Errorf("page after commands lacks the last result as text")
	}
	var actions []string
	for _, a := range audit(t, f.st) {
		if strings.ContainsRune(a.Result, 0x1b) {
			t.Errorf("audit result %q carries the mirror's escape", a.Result)
		}
		actions = append(actions, a.Action+" "+a.Target+" "+strings.Fields(a.Result + " x")[0])
	}
	for _, want := range []string{"command ping m1 ok", "command restart m1 error", "command end-session m1 ok", "set store m1 ok:"} {
		if !strings.Contains(strings.Join(actions, "\n"), want) {
			t.Errorf("audit lacks %q:\n%s", want, strings.Join(actions, "\n"))
		}
	}
}

// The states from the messages: online, degraded (its status or an unhealthy part), offline
// (its status or its Last Will), silent (no telemetry for silent_after although it says it is
// up); problems sort first; a cleared status removes the mirror; junk changes nothing.
func TestFleetStates(t *testing.T) {
	clk := newClock()
	f := console.NewFleet("mirror", clk.Now)
	status := func(id, state, reason string) {
		b, _ := json.Marshal(wire.Status{State: state, Reason: reason, Version: "1.0.0"})
		f.Handle("mirror/"+id+"/status", b)
	}
	tele := func(id string, problems ...wire.Problem) {
		b, _ := json.Marshal(wire.Telemetry{FPS: 15, Problems: problems})
		f.Handle("mirror/"+id+"/telemetry", b)
	}
	status("a-online", "online", "")
	tele("a-online")
	status("b-degraded", "degraded", "display lost")
	tele("b-degraded")
	status("c-parts", "online", "")
	tele("c-parts", wire.Problem{Part: "storage", State: "failing", Reason: "disk full"})
	status("d-offline", "online", "")
	tele("d-offline")
	f.Handle("mirror/d-offline/status", []byte(wire.WillPayload))
	status("e-silent", "online", "")
	tele("e-silent")
	status("f-weird", "<rebooting>", "")
	tele("f-weird")
	f.Handle("mirror/Bad_ID/status", []byte(`{"state":"online"}`))
	f.Handle("mirror/g-junk/status", []byte(`not json`))
	status("h-gone", "online", "")
	f.Handle("mirror/h-gone/status", nil)

	clk.Add(80 * time.Second)
	for _, id := range []string{"a-online", "b-degraded", "c-parts", "f-weird"} {
		tele(id)
	}
	tele("c-parts", wire.Problem{Part: "storage", State: "failing", Reason: "disk full"})
	clk.Add(15 * time.Second) // e-silent: 95 s without telemetry
	got := map[string]console.Mirror{}
	var order []string
	for _, m := range f.Mirrors(90*time.Second, map[string]string{"a-online": "s1"}) {
		got[m.ID] = m
		order = append(order, m.ID+"="+m.State)
	}
	want := "d-offline=offline g-junk=offline e-silent=silent b-degraded=degraded c-parts=degraded f-weird=degraded a-online=online"
	if strings.Join(order, " ") != want {
		t.Errorf("fleet:\n got %s\nwant %s", strings.Join(order, " "), want)
	}
	for id, reason := range map[string]string{"b-degraded": "display lost", "c-parts": "storage failing: disk full", "d-offline": "connection lost",
		"e-silent": "no telemetry for 1m35s", "f-weird": "unknown state <rebooting>", "g-junk": "unreadable status: not json"} {
		if got[id].Reason != reason {
			t.Errorf("%s: reason %q, want %q", id, got[id].Reason, reason)
		}
	}
	if got["a-online"].Store != "s1" || got["a-online"].LastSeen == nil || !got["a-online"].LastSeen.Equal(clk.Now().Add(-15*time.Second)) {
		t.Errorf("a-online = %+v", got["a-online"])
	}
	tele("e-silent")
	for _, m := range f.Mirrors(90*time.Second, nil) {
		if m.ID == "e-silent" && m.State != console.StateOnline {
			t.Errorf("e-silent after telemetry: %s, want online", m.State)
		}
	}
}

// A command's result counts only from the mirror it went to: another mirror that learns the
// request ID cannot answer for it.
func TestResultOnlyFromItsMirror(t *testing.T) {
	pub := &recorder{}
	e := newEnv(t, pub, nil, func(o *console.Options) { o.CommandWait = 10 * time.Second })
	op := e.login(t, "otto", e.addOperator(t, "otto", hubstore.RoleOperator))
	type answer struct {
		status int
		body   string
	}
	done := make(chan answer, 1)
	go func() {
		resp, body := op.post(t, "/api/mirrors/m1/cmd/ping", "", true)
		done <- answer{resp.StatusCode, body}
	}()
	var req wire.CommandRequest
	waitFor(t, "the ping published", func() bool {
		topic, payload := pub.last()
		return topic == "mirror/m1/cmd/ping" && json.Unmarshal(payload, &req) == nil
	})
	if req.ExpiresAt == nil || !strings.HasPrefix(req.ID, "console-") {
		t.Errorf("request = %+v, want an ID and an expiry", req)
	}
	e.fleet.Handle("mirror/m2/cmd/ping/result", []byte(`{"id":"`+req.ID+`","ok":false,"error":{"code":"failed","message":"spoofed"}}`))
	e.fleet.Handle("mirror/m1/cmd/ping/result", []byte(`{"id":"`+req.ID+`","ok":true,"data":{"uptime_s":1}}`))
	a := <-done
	if a.status != 200 || !strings.Contains(a.body, `"ok":true`) {
		t.Errorf("ping = %d %s, want m1's own result", a.status, a.body)
	}
}
