package fleet_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/store"
)

// topicRule is a row of the topic table of docs/contracts.md §1.
type topicRule struct {
	dir      string
	qos      byte
	retained bool
}

// contractTopics reads the topic table of docs/contracts.md §1, topics with the device m1.
func contractTopics(t *testing.T) map[string]topicRule {
	t.Helper()
	b, err := os.ReadFile("../../docs/contracts.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "| topic | dir | QoS | retained | payload |")
	if i < 0 {
		t.Fatal("docs/contracts.md: no topic table (| topic | dir | QoS | retained | payload |)")
	}
	rules := map[string]topicRule{}
	for _, line := range strings.Split(doc[i:], "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(line, "|")
		topic := strings.ReplaceAll(strings.Trim(strings.TrimSpace(cells[1]), "`"), "{id}", "m1")
		r := topicRule{dir: strings.TrimSpace(cells[2]), retained: strings.TrimSpace(cells[4]) == "yes"}
		switch q := strings.TrimSpace(cells[3]); q {
		case "0", "1", "2":
			r.qos = q[0] - '0'
		default:
			t.Fatalf("docs/contracts.md: topic %s has QoS %q", topic, q)
		}
		rules[topic] = r
	}
	return rules
}

// TestContractQoSAndRetain: what the mirror publishes (status, telemetry, events, command
// results, reported configuration) goes out at the QoS and with the retain flag the topic
// table of docs/contracts.md §1 gives. An operator subscribed at QoS 2 receives each at its
// publisher's QoS; a newcomer receives exactly the retained ones as retained.
func TestContractQoSAndRetain(t *testing.T) {
	t.Parallel()
	rules := contractTopics(t)
	b := startBroker(t)
	db, err := store.OpenDB(filepath.Join(t.TempDir(), "mirror.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Append(context.Background(), session.Event{Type: wire.EventSessionOpened, At: time.Now(), SessionID: "s1"}); err != nil {
		t.Fatal(err)
	}
	ops := connectPeer(t, b, "_ops", "ops-contract", true)
	ops.subscribeQoS(2, "mirror/m1/#")
	var mu sync.Mutex
	cfg := presenceConfig{}
	runClient(t, fleet.Options{Broker: b.URL(), DeviceID: "m1", Password: "pw-m1",
		TelemetryInterval: 50 * time.Millisecond, Outbox: db, ApplyConfig: applyPresence(&mu, &cfg),
		Commands: map[string]fleet.CommandFunc{
			"ping": func(context.Context, json.RawMessage) (any, error) { return "pong", nil },
		}})
	ops.waitFor("mirror/m1/status", 10*time.Second, hasState("online"))
	ops.publish("mirror/m1/cmd/ping", false, `{"id":"r1"}`)
	ops.publish("mirror/m1/config/desired", true, `{"version":1,"config":{"presence":{"enter_dwell":"1s"}}}`)

	fromDevice := 0
	for topic, r := range rules {
		if r.dir != "device→" {
			continue // published by mirrorctl or the hub, not by this client
		}
		fromDevice++
		if strings.Contains(topic, "{name}") {
			topic = strings.ReplaceAll(topic, "{name}", "ping")
		}
		got := firstReceived(t, ops, topic, 10*time.Second)
		if got.QoS != r.qos {
			t.Errorf("%s arrived at QoS %d, docs/contracts.md says %d", topic, got.QoS, r.qos)
		}
	}
	if fromDevice < 5 {
		t.Fatalf("docs/contracts.md lists %d device→ topics, want at least status, telemetry, events, result, reported", fromDevice)
	}

	late := connectPeer(t, b, "_ops", "ops-contract-late", true)
	late.subscribeQoS(2, "mirror/m1/#")
	time.Sleep(time.Second) // retained messages arrive right after SUBACK
	retained := map[string]bool{}
	for _, m := range late.received("mirror/m1/") {
		if m.Retained {
			retained[strings.ReplaceAll(m.Topic, "/cmd/ping/", "/cmd/{name}/")] = true
		}
	}
	for topic, r := range rules {
		if r.dir == "device→" && r.retained != retained[topic] {
			t.Errorf("%s retained = %v, docs/contracts.md says %v", topic, retained[topic], r.retained)
		}
	}
}

// firstReceived returns the first message p received on topic, waiting for one up to timeout.
func firstReceived(t *testing.T, p *peer, topic string, timeout time.Duration) msg {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, m := range p.received(topic) {
			if m.Topic == topic {
				return m
			}
		}
	}
	t.Fatalf("nothing on %s within %s", topic, timeout)
	return msg{}
}
