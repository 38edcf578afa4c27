package fleet_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// users are the accounts of the test broker: devices m1, m2 and the service accounts.
var users = map[string]string{
	"m1": "pw-m1", "m2": "pw-m2", "m3": "pw-m3",
	broker.OpsUser: "pw-ops", broker.HubUser: "pw-hub",
}

func startBroker(t *testing.T) *mosquittotest.Broker {
	t.Helper()
	return mosquittotest.Start(t, mosquittotest.Options{Users: users})
}

// msg is one received message.
type msg struct {
	Topic    string
	Payload  string
	Retained bool
	QoS      byte
}

// peer is a plain MQTT client (an operator, the hub, or a rogue device) recording what it
// receives.
type peer struct {
	t   *testing.T
	mc  mqtt.Client
	mu  sync.Mutex
	got []msg
	ch  chan msg
}

// connectPeer connects user with a persistent (clean=false) or clean session.
func connectPeer(t *testing.T, b *mosquittotest.Broker, user, clientID string, clean bool) *peer {
	t.Helper()
	return connectPeerTo(t, []string{b.URL()}, user, clientID, clean)
}

// connectPeerTo connects to the first of urls that answers (paho tries them in turn, also
// when it reconnects).
func connectPeerTo(t *testing.T, urls []string, user, clientID string, clean bool) *peer {
	t.Helper()
	p := &peer{t: t, ch: make(chan msg, 10000)}
	o := mqtt.NewClientOptions()
	for _, u := range urls {
		o.AddBroker(u)
	}
	o.SetClientID(clientID).
		SetUsername(user).SetPassword(users[user]).SetCleanSession(clean).
		SetAutoReconnect(true).SetMaxReconnectInterval(500 * time.Millisecond).
		SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			r := msg{Topic: m.Topic(), Payload: string(m.Payload()), Retained: m.Retained(), QoS: m.Qos()}
			p.mu.Lock()
			p.got = append(p.got, r)
			p.mu.Unlock()
			p.ch <- r
		})
	p.mc = mqtt.NewClient(o)
	tok := p.mc.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", user, tok.Error())
	}
	t.Cleanup(func() { p.mc.Disconnect(50) })
	return p
}

func (p *peer) subscribe(filters ...string) {
	p.t.Helper()
	p.subscribeQoS(1, filters...)
}

// subscribeQoS subscribes at qos: a message arrives at the lower of qos and its publisher's.
func (p *peer) subscribeQoS(qos byte, filters ...string) {
	p.t.Helper()
	m := map[string]byte{}
	for _, f := range filters {
		m[f] = qos
	}
	tok := p.mc.SubscribeMultiple(m, nil)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		p.t.Fatalf("subscribe %v: %v", filters, tok.Error())
	}
}

func (p *peer) publish(topic string, retained bool, payload string) {
	p.t.Helper()
	tok := p.mc.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		p.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// waitFor returns the first message (received from now on) on topic for which ok is true.
func (p *peer) waitFor(topic string, timeout time.Duration, ok func(payload string) bool) msg {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-p.ch:
			if m.Topic == topic && (ok == nil || ok(m.Payload)) {
				return m
			}
		case <-deadline:
			p.t.Fatalf("no matching message on %s within %s", topic, timeout)
			return msg{}
		}
	}
}

// next returns the first message (received from now on) on topic within timeout, if any.
func (p *peer) next(topic string, timeout time.Duration) (msg, bool) {
	deadline := time.After(timeout)
	for {
		select {
		case m := <-p.ch:
			if m.Topic == topic {
				return m, true
			}
		case <-deadline:
			return msg{}, false
		}
	}
}

// received returns every message received so far whose topic has prefix.
func (p *peer) received(prefix string) []msg {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []msg
	for _, m := range p.got {
		if strings.HasPrefix(m.Topic, prefix) {
			out = append(out, m)
		}
	}
	return out
}

func hasState(state string) func(string) bool {
	return func(p string) bool {
		var s wire.Status
		return json.Unmarshal([]byte(p), &s) == nil && s.State == state
	}
}

// runClient starts a fleet client and returns a stop function that ends Run and waits.
func runClient(t *testing.T, opts fleet.Options) (*fleet.Client, func()) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.ReconnectMin == 0 {
		opts.ReconnectMin, opts.ReconnectMax = 100*time.Millisecond, time.Second
	}
	c, err := fleet.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return within 10s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

// waitConnected polls until c is connected (subscribed and status published).
func waitConnected(t *testing.T, c *fleet.Client) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !c.Connected(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("client not connected within 10s")
		}
	}
}
