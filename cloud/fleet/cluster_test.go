package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/natstest"
	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/internal/syncbuf"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/store"
)

// startCluster starts a three-node NATS cluster from the shipped nats.conf, with the auth
// callout service beside each node reading the test users (bcrypt hashes, as in production)
// written by broker.NATSUsers.
func startCluster(t *testing.T) *natstest.Cluster {
	t.Helper()
	return startClusterWith(t, natstest.Options{})
}

func startClusterWith(t *testing.T, opts natstest.Options) *natstest.Cluster {
	t.Helper()
	var us []broker.NATSUser
	for name, pw := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		us = append(us, broker.NATSUser{Name: name, Password: string(h)})
	}
	sort.Slice(us, func(i, j int) bool { return us[i].Name < us[j].Name })
	conf, err := broker.NATSUsers("", us)
	if err != nil {
		t.Fatal(err)
	}
	opts.Users = conf
	return natstest.Start(t, opts)
}

// subscribeAll subscribes and fails unless the broker granted every filter.
func (p *peer) subscribeAll(filters ...string) {
	p.t.Helper()
	m := map[string]byte{}
	for _, f := range filters {
		m[f] = 1
	}
	tok := p.mc.SubscribeMultiple(m, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		p.t.Fatalf("subscribe %v: %v", filters, tok.Error())
	}
	for f, code := range tok.(*mqtt.SubscribeToken).Result() {
		if code == 0x80 {
			p.t.Fatalf("subscribe %s: refused by the broker", f)
		}
	}
}

// rotate returns urls starting at index i.
func rotate(urls []string, i int) []string {
	return append(slices.Clone(urls[i:]), urls[:i]...)
}

// seqsOf returns the event seqs in the messages on topic.
func seqsOf(t *testing.T, ms []msg, topic string) map[uint64]bool {
	t.Helper()
	out := map[uint64]bool{}
	for _, m := range ms {
		if m.Topic != topic {
			continue
		}
		var ev struct {
			Seq uint64 `json:"seq"`
		}
		if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
			t.Fatalf("event %q: %v", m.Payload, err)
		}
		out[ev.Seq] = true
	}
	return out
}

// waitSeqs waits until the consumer has every seq in 1..n on topic.
func waitSeqs(t *testing.T, p *peer, topic string, n uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := seqsOf(t, p.received(topic), topic)
		var missing []uint64
		for s := uint64(1); s <= n; s++ {
			if !got[s] {
				missing = append(missing, s)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			if len(missing) > 20 {
				missing = missing[:20]
			}
			t.Fatalf("%s: %d of %d events missing after %s (first: %v)", topic, int(n)-len(got), n, timeout, missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNATSCluster runs the fleet through a three-node NATS cluster (MQTT and JetStream on,
// the shipped nats.conf and users written by broker.NATSUsers): the real fleet client as
// mirror m1 and the hub's own MQTT publisher, status, commands, bindings and outbox events;
// then the node m1 is connected to is killed in the middle of a burst of events: m1
// reconnects to another node and the operator's persistent session receives every event.
func TestNATSCluster(t *testing.T) {
	c := startCluster(t)
	urls := c.URLs()
	ctx := context.Background()

	// The operator on node 3, the hub on node 2, the mirror on node 1: every message crosses
	// the cluster.
	ops := connectPeerTo(t, rotate(urls, 2), broker.OpsUser, "ops-cluster", false)
	ops.subscribeAll("mirror/+/status", "mirror/+/events", "mirror/+/cmd/+/result")
	pub, err := hub.DialMQTT(ctx, hub.MQTTOptions{URL: urls[1], Failover: rotate(urls, 2),
		Username: broker.HubUser, Password: users[broker.HubUser]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	if err := pub.Reachable(ctx); err != nil {
		t.Errorf("hub publisher: Reachable = %v, want nil while connected", err)
	}

	db, err := store.OpenDB(filepath.Join(t.TempDir(), "m1.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	bindings := make(chan wire.Binding, 100)
	m1, _ := runClient(t, fleet.Options{
		Broker: urls[0], Failover: urls[1:], DeviceID: "m1", Password: users["m1"], Version: "1.0.0",
		Outbox: db, TelemetryInterval: -1, KeepAlive: 5 * time.Second, PublishTimeout: 10 * time.Second,
		OnBinding: func(_ context.Context, b wire.Binding) { bindings <- b },
	})
	waitConnected(t, m1)
	if got := m1.Broker(); got != urls[0] {
		t.Errorf("m1 connected to %s, want the first URL %s", got, urls[0])
	}
	ops.waitFor("mirror/m1/status", 20*time.Second, hasState("online"))

	t.Run("command", func(t *testing.T) {
		exp := wire.Time{Time: time.Now().Add(time.Minute)}
		req, _ := json.Marshal(wire.CommandRequest{ID: "req-ping-1", ExpiresAt: &exp})
		ops.publish("mirror/m1/cmd/ping", false, string(req))
		m := ops.waitFor("mirror/m1/cmd/ping/result", 20*time.Second, nil)
		var res wire.CommandResult
		if err := json.Unmarshal([]byte(m.Payload), &res); err != nil || !res.OK || res.ID != "req-ping-1" {
			t.Errorf("ping result = %s, want ok for req-ping-1", m.Payload)
		}
	})

	bind := func(t *testing.T, id string) {
		t.Helper()
		b, _ := json.Marshal(wire.Binding{BindingID: id, PhotoID: "P-" + id, Scene: "s-" + id, Event: "SCAN", User: "u", At: wire.Time{Time: time.Now()}})
		if err := pub.Publish(ctx, "mirror/m1/binding", b); err != nil {
			t.Fatalf("hub publish: %v", err)
		}
		select {
		case got := <-bindings:
			if got.BindingID != id {
				t.Errorf("binding %s reached the mirror, want %s", got.BindingID, id)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("binding %s did not reach the mirror", id)
		}
	}
	t.Run("binding", func(t *testing.T) { bind(t, "b1") })

	appendEvents := func(n int, every time.Duration) {
		for i := range n {
			if _, err := db.Append(ctx, session.Event{Type: wire.EventSessionOpened, At: time.Now(), SessionID: fmt.Sprintf("s%d", i)}); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(every)
		}
	}
	t.Run("events", func(t *testing.T) {
		appendEvents(20, 0)
		waitSeqs(t, ops, "mirror/m1/events", 20, 30*time.Second)
	})

	t.Run("kill the mirror's node", func(t *testing.T) {
		const total = 300 // 20 before, 280 during the burst
		var wg sync.WaitGroup
		wg.Go(func() { appendEvents(total-20, 5*time.Millisecond) })
		time.Sleep(500 * time.Millisecond) // in the middle of the burst (280 × 5 ms)
		waiting, _ := db.Depth(ctx)
		killed := time.Now()
		c.Kill(0)
		deadline := time.Now().Add(30 * time.Second)
		for m1.Broker() == "" || m1.Broker() == urls[0] {
			if time.Now().After(deadline) {
				t.Fatalf("m1 not reconnected to another node (broker %q)", m1.Broker())
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("node 1 killed with %d events in the outbox; m1 reconnected to %s after %s", waiting, m1.Broker(), time.Since(killed).Round(time.Millisecond))
		wg.Wait()
		ops.waitFor("mirror/m1/status", 20*time.Second, hasState("online"))
		waitSeqs(t, ops, "mirror/m1/events", total, 60*time.Second)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if d, _ := db.Depth(ctx); d == 0 {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("outbox still holds %d events: not every PUBACK came", d)
			}
		}
		// Commands and bindings still reach it through the other nodes.
		bind(t, "b2")
		exp := wire.Time{Time: time.Now().Add(time.Minute)}
		req, _ := json.Marshal(wire.CommandRequest{ID: "req-ping-2", ExpiresAt: &exp})
		ops.publish("mirror/m1/cmd/ping", false, string(req))
		ops.waitFor("mirror/m1/cmd/ping/result", 20*time.Second, func(p string) bool {
			var r wire.CommandResult
			return json.Unmarshal([]byte(p), &r) == nil && r.ID == "req-ping-2" && r.OK
		})
	})
}

// TestNATSClusterIsolation: in the cluster a device reads and writes only its own topics,
// and a device that presents another device's client ID is refused at CONNECT by the auth
// callout: the victim keeps its connection and its messages.
func TestNATSClusterIsolation(t *testing.T) {
	c := startCluster(t)
	urls := c.URLs()
	ops := connectPeerTo(t, urls, broker.OpsUser, "ops-iso", false)
	ops.subscribeAll("mirror/#")
	db, err := store.OpenDB(filepath.Join(t.TempDir(), "m1.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var ran sync.Map
	bindings := make(chan wire.Binding, 10)
	m1log := &syncbuf.Buffer{}
	m1, _ := runClient(t, fleet.Options{
		Broker: urls[0], Failover: urls[1:], DeviceID: "m1", Password: users["m1"],
		Outbox: db, TelemetryInterval: -1, KeepAlive: 5 * time.Second,
		Logger:    slog.New(slog.NewTextHandler(m1log, nil)),
		OnBinding: func(_ context.Context, b wire.Binding) { bindings <- b },
		Commands: map[string]fleet.CommandFunc{"end-session": func(_ context.Context, args json.RawMessage) (any, error) {
			ran.Store(string(args), true)
			return nil, nil
		}},
	})
	waitConnected(t, m1)

	// m2 on another node tries to read m1's topics and everything, and to write to m1.
	rogue := connectPeerTo(t, urls[1:], "m2", "m2", true)
	tok := rogue.mc.SubscribeMultiple(map[string]byte{"mirror/m1/#": 1, "mirror/+/binding": 1, "#": 1, "mirror/m2/#": 1}, nil)
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("no SUBACK")
	}
	for topic, code := range tok.(*mqtt.SubscribeToken).Result() {
		want := byte(0x80)
		if topic == "mirror/m2/#" {
			want = 1
		}
		if code != want {
			t.Errorf("m2 subscribe %s: code %#x, want %#x", topic, code, want)
		}
	}
	exp := wire.Time{Time: time.Now().Add(time.Minute)}
	req, _ := json.Marshal(wire.CommandRequest{ID: "rogue-1", Args: json.RawMessage(`"rogue"`), ExpiresAt: &exp})
	rogue.mc.Publish("mirror/m1/cmd/end-session", 1, false, req).WaitTimeout(5 * time.Second)
	b, _ := json.Marshal(wire.Binding{BindingID: "rogue-b", PhotoID: "P", At: wire.Time{Time: time.Now()}})
	rogue.mc.Publish("mirror/m1/binding", 1, false, b).WaitTimeout(5 * time.Second)
	rogue.mc.Publish("mirror/m1/status", 1, true, `{"state":"offline","reason":"rogue"}`).WaitTimeout(5 * time.Second)

	// m2 as client ID "m1" (on a third node): the auth callout refuses it at CONNECT, so it
	// neither takes m1's session nor bumps m1 off (m1 never loses its connection).
	var stolen []string
	var stolenMu sync.Mutex
	thief := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(urls[2]).SetClientID("m1").
		SetUsername("m2").SetPassword(users["m2"]).SetCleanSession(false).SetAutoReconnect(false).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			stolenMu.Lock()
			stolen = append(stolen, m.Topic())
			stolenMu.Unlock()
		}))
	tok = thief.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("thief connect: no CONNACK")
	}
	if tok.Error() == nil {
		thief.Disconnect(0)
		t.Fatal("m2 connected with m1's client ID; want it refused at CONNECT")
	}
	t.Logf("thief refused: %v", tok.Error())
	time.Sleep(time.Second) // a takeover would have closed m1's connection by now
	if !m1.Connected() {
		t.Error("m1 lost its connection to the thief's attempt")
	}
	if !c.AuthLogged(`connection refused" user=m2 client_id=m1 host=127.0.0.1`, `is not the device ID \"m2\"`) {
		t.Errorf("no auth service logged the refusal with user, client ID, host and reason:\n%s", c.AuthLogs())
	}

	// The operator's messages to m1 (a command and a binding from the hub's account) go on.
	hubPeer := connectPeerTo(t, urls[1:], broker.HubUser, "hub-iso", true)
	req, _ = json.Marshal(wire.CommandRequest{ID: "ops-1", Args: json.RawMessage(`"ops"`), ExpiresAt: &exp})
	ops.publish("mirror/m1/cmd/end-session", false, string(req))
	b, _ = json.Marshal(wire.Binding{BindingID: "hub-b", PhotoID: "P", At: wire.Time{Time: time.Now()}})
	hubPeer.publish("mirror/m1/binding", false, string(b))
	ops.waitFor("mirror/m1/cmd/end-session/result", 30*time.Second, func(p string) bool {
		var r wire.CommandResult
		return json.Unmarshal([]byte(p), &r) == nil && r.ID == "ops-1"
	})
	select {
	case got := <-bindings:
		if got.BindingID != "hub-b" {
			t.Errorf("m1 got binding %s, want hub-b (rogue-b must not pass)", got.BindingID)
		}
	case <-time.After(20 * time.Second):
		t.Error("the hub's binding did not reach m1")
	}
	time.Sleep(500 * time.Millisecond)
	if _, ok := ran.Load(`"rogue"`); ok {
		t.Error("m2 ran a command on m1")
	}
	for _, m := range ops.received("mirror/m1/") {
		if m.Payload == `{"state":"offline","reason":"rogue"}` {
			t.Errorf("m2 wrote m1's status: %+v", m)
		}
	}
	for _, m := range rogue.received("") {
		t.Errorf("m2 received %s: %s", m.Topic, m.Payload)
	}
	stolenMu.Lock()
	defer stolenMu.Unlock()
	if len(stolen) > 0 {
		t.Errorf("m2 with m1's client ID received %v", stolen)
	}
	if log := m1log.String(); strings.Count(log, "connected to broker") != 1 || strings.Contains(log, "connection to broker lost") {
		t.Errorf("m1 was disconnected during the test (want one connection, never lost):\n%s", log)
	}
}

// TestNATSClusterLastWill: a mirror process SIGKILLed on one node is reported offline by its
// Last Will to an operator on another node, and the status is retained cluster-wide.
func TestNATSClusterLastWill(t *testing.T) {
	c := startCluster(t)
	urls := c.URLs()
	ops := connectPeerTo(t, rotate(urls, 1), broker.OpsUser, "ops-will", true)
	ops.subscribeAll("mirror/+/status")
	a := startAgentAt(t, urls[0], "m1", filepath.Join(t.TempDir(), "m1.db"), "-failover", urls[1]+","+urls[2])
	ops.waitFor("mirror/m1/status", 30*time.Second, hasState("online"))
	a.signal(syscall.SIGKILL)
	if m := ops.waitFor("mirror/m1/status", 30*time.Second, hasState("offline")); m.Payload != wire.WillPayload {
		t.Errorf("status after SIGKILL = %s, want the Last Will %s", m.Payload, wire.WillPayload)
	}
	// NATS replicates retained messages to the other nodes asynchronously (its $MQTT_rmsgs
	// stream), and a node hands over the retained messages it has when the subscription is made:
	// a subscriber coming right after the will may be early. It subscribes again until node 3
	// has it, as a late operator's next look would.
	late := connectPeerTo(t, rotate(urls, 2), broker.OpsUser, "ops-will-late", true)
	deadline := time.Now().Add(30 * time.Second)
	for {
		late.subscribeAll("mirror/+/status")
		m, ok := late.next("mirror/m1/status", 2*time.Second)
		if ok {
			if !m.Retained || m.Payload != wire.WillPayload {
				t.Errorf("retained status on node 3 = %+v, want the retained Last Will", m)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("node 3 never handed over m1's retained status within 30 s")
		}
		if tok := late.mc.Unsubscribe("mirror/+/status"); !tok.WaitTimeout(5 * time.Second) {
			t.Fatal("unsubscribe: no UNSUBACK")
		}
	}
}

// TestNATSClusterAuth: the auth callout refuses a wrong password, an unknown user and a
// device on the NATS protocol, with the reason in its log; a device logs in on any node even
// when only one node has an auth service beside it (the others' requests cross the routes,
// encrypted with the xkey); service accounts pick their client IDs.
func TestNATSClusterAuth(t *testing.T) {
	c := startClusterWith(t, natstest.Options{AuthNodes: []int{0}})
	urls := c.URLs()
	refused := func(url, user, password, clientID string) error {
		mc := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).
			SetUsername(user).SetPassword(password).SetProtocolVersion(4).SetAutoReconnect(false))
		tok := mc.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			t.Fatalf("%s: no CONNACK", user)
		}
		if tok.Error() == nil {
			mc.Disconnect(0)
		}
		return tok.Error()
	}
	for _, tt := range []struct{ user, pw, log string }{
		{"m1", "not-m1s-password", `user=m1 client_id=m1 host=127.0.0.1 server=nats3 reason="bad username or password"`},
		{"m9", "pw-m1", `user=m9 client_id=m9 host=127.0.0.1 server=nats3 reason="bad username or password"`},
		{broker.OpsUser, "pw-hub", `user=_ops client_id=_ops host=127.0.0.1 server=nats3 reason="bad username or password"`},
	} {
		if err := refused(urls[2], tt.user, tt.pw, tt.user); err == nil || !strings.Contains(err.Error(), "not Authorized") {
			t.Errorf("%s with a wrong password: connect error %v, want not authorized", tt.user, err)
		}
		if !c.AuthLogged(tt.log) {
			t.Errorf("refusal of %s not logged as %q:\n%s", tt.user, tt.log, c.AuthLogs())
		}
	}
	if nc, err := nats.Connect(c.Nodes[1].NATSURL(), nats.UserInfo("m1", users["m1"]), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("m1 logged in on the NATS protocol")
	}
	if !c.AuthLogged(`user=m1 client_id="" host=127.0.0.1 server=nats2`, `MQTT only, this is a \"nats\" connection`) {
		t.Errorf("NATS-protocol refusal not logged:\n%s", c.AuthLogs())
	}

	// m1 on node 3 and _ops (any client ID) on node 2: both answered by the service beside node 1.
	ops := connectPeerTo(t, urls[1:], broker.OpsUser, "ops-anything-1", true)
	ops.subscribeAll("mirror/+/status")
	// The fleet client refused for a wrong password says so: it speaks MQTT 3.1.1 only, so
	// the refusal is what it reports, not the error of a fallback to MQTT 3.1 (which NATS
	// does not speak, so a mirror would log a closed connection instead).
	var logs syncbuf.Buffer
	runClient(t, fleet.Options{Broker: urls[2], DeviceID: "m2", Password: "not-m2s-password", TelemetryInterval: -1,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(logs.String(), "level=WARN"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the refused client logged nothing within 20 s")
		}
	}
	if l := logs.String(); !strings.Contains(l, "broker refused the login") || !strings.Contains(l, "not Authorized") || strings.Contains(l, "unreachable") {
		t.Errorf("the refused client's log does not name the refusal:\n%s", l)
	}
	m1, _ := runClient(t, fleet.Options{Broker: urls[2], DeviceID: "m1", Password: users["m1"], TelemetryInterval: -1})
	waitConnected(t, m1)
	ops.waitFor("mirror/m1/status", 20*time.Second, hasState("online"))
	if !c.AuthLogged(`connection allowed" user=m1 client_id=m1 host=127.0.0.1 server=nats3`) {
		t.Errorf("m1's login on node 3 not answered by the service beside node 1:\n%s", c.AuthLogs())
	}
}
