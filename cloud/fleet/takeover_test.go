package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
)

// commandLog runs the agent's "restart" command and waits for its results.
type commandLog struct{}

func (l *commandLog) fn(_ context.Context, args json.RawMessage) (any, error) { return nil, nil }

func (l *commandLog) wait(t *testing.T, ops *peer, device, id string) {
	t.Helper()
	ops.waitFor("mirror/"+device+"/cmd/restart/result", 15*time.Second, func(p string) bool {
		return strings.Contains(p, `"id":"`+id+`"`)
	})
}

// The attack of issue 14 on the shipped mosquitto configuration: m2, with its own password,
// claims m1's client ID. Before the fix it inherited m1's persistent session (m1's queued
// command went to the thief) or kicked the live m1 off. With use_username_as_clientid the
// thief gets its own session: m1's queued command reaches m1, and a live m1 stays connected.
// mirror-agent check's probe under m1's name leaves the queued command in place too.
func TestShippedBrokerClientIDTakeover(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	conf, _, opsPort := shippedConfig(t)
	b := mosquittotest.Start(t, mosquittotest.Options{Users: users, Config: conf, Files: pki.files})
	ops := connectPeer(t, b, broker.OpsUser, "ops-takeover", true)
	ops.subscribe("mirror/#")

	var log commandLog
	agent := func() (*fleet.Client, func()) {
		return runClient(t, fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: users["m1"], TelemetryInterval: -1,
			Commands: map[string]fleet.CommandFunc{"restart": log.fn}})
	}
	send := func(device, id string) {
		t.Helper()
		ops.publish("mirror/"+device+"/cmd/restart", false, fmt.Sprintf(`{"id":%q}`, id))
	}

	// m1 has its persistent session and is offline; a command is queued for it.
	c1, stop1 := agent()
	waitConnected(t, c1)
	stop1()
	send("m1", "c1")

	// The thief: m2's password, m1's client ID, a persistent session, everything it receives
	// recorded. A marker sent to m2 after it connected: nothing of m1's may come before it.
	var mu sync.Mutex
	var stolen []string
	thief := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("m1").
		SetUsername("m2").SetPassword(users["m2"]).SetCleanSession(false).SetAutoReconnect(false).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			stolen = append(stolen, m.Topic())
			mu.Unlock()
		}))
	if tok := thief.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("thief connect: %v", tok.Error())
	}
	marker := make(chan struct{})
	thief.Subscribe("mirror/m2/cmd/marker", 1, func(mqtt.Client, mqtt.Message) { close(marker) }).Wait()
	ops.publish("mirror/m2/cmd/marker", false, `{"id":"marker"}`)
	select {
	case <-marker:
	case <-time.After(10 * time.Second):
		t.Fatal("the thief's own marker did not arrive")
	}
	mu.Lock()
	if len(stolen) > 0 {
		t.Errorf("the client with m2's password and m1's client ID received %v: m1's session taken over", stolen)
	}
	mu.Unlock()
	thief.Disconnect(0)

	// mirror-agent check probes the broker as m1 while the command waits.
	if err := fleet.Probe(t.Context(), fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: users["m1"]}); err != nil {
		t.Fatalf("probe: %v", err)
	}

	// m1 comes back and runs its queued command.
	before := len(ops.received("mirror/m1/status"))
	c1, _ = agent()
	log.wait(t, ops, "m1", "c1")
	waitConnected(t, c1)
	// Its "online" status may reach the operator after the command's result: the count of
	// statuses below starts once it has.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st := ops.received("mirror/m1/status")[before:]; len(st) > 0 && hasState("online")(st[len(st)-1].Payload) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("m1's online status did not reach the operator after it came back")
		}
	}

	// The thief claims m1's client ID while m1 is live: m1 is not kicked off (no offline
	// status, mosquitto logs no take-over of m1) and still gets its commands.
	n := len(ops.received("mirror/m1/status"))
	thief2 := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("m1").
		SetUsername("m2").SetPassword(users["m2"]).SetCleanSession(true).SetAutoReconnect(false))
	if tok := thief2.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("thief connect: %v", tok.Error())
	}
	defer thief2.Disconnect(0)
	send("m1", "c2")
	log.wait(t, ops, "m1", "c2")
	if st := ops.received("mirror/m1/status"); len(st) != n {
		t.Errorf("m1's status changed after the thief connected: %v", st[n:])
	}
	if strings.Contains(b.Log(), "Client m1 already connected") {
		t.Errorf("mosquitto closed m1's connection for another client:\n%s", b.Log())
	}

	// The operators' loopback listener keeps free client IDs: two mirrorctl at once.
	opsURL := fmt.Sprintf("tcp://127.0.0.1:%d", opsPort)
	var opsClients []mqtt.Client
	for _, id := range []string{"mirrorctl-a", "mirrorctl-b"} {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(opsURL).SetClientID(id).
			SetUsername(broker.OpsUser).SetPassword(users[broker.OpsUser]).SetAutoReconnect(false))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s on the operators' listener: %v", id, tok.Error())
		}
		defer c.Disconnect(0)
		opsClients = append(opsClients, c)
	}
	for i, c := range opsClients { // a kicked-off connection cannot get its PUBACK
		tok := c.Publish("mirror/m1/cmd/ping", 1, false, fmt.Sprintf(`{"id":"ops-%d"}`, i))
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil || !c.IsConnectionOpen() {
			t.Errorf("operator connection %d was closed by the other: %v", i, tok.Error())
		}
	}
}
