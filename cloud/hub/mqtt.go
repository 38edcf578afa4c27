package hub

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// MQTTOptions configure the connection to an external broker.
type MQTTOptions struct {
	URL string // tcp://host:1883, ssl://host:8883, ws://…
	// Failover are more URLs of the same clustered broker, tried in turn (mqtt.failover).
	Failover []string
	ClientID string // "" = "mirror-cloud-" and random characters, unique per replica
	Username string
	Password string
	// OnConnect, if set, is called after each (re)connection.
	OnConnect func()
}

// MQTTPublisher publishes through an external broker (mosquitto, EMQX…) with paho. It
// reconnects by itself; a publish while disconnected fails and Hub.Run retries it.
type MQTTPublisher struct {
	c    paho.Client
	urls []string

	mu   sync.Mutex
	subs map[string]paho.MessageHandler // filter → handler, subscribed again on each reconnection
}

var _ Publisher = (*MQTTPublisher)(nil)

// DialMQTT connects to the broker, waiting at most until ctx ends for the first connection.
func DialMQTT(ctx context.Context, opts MQTTOptions) (*MQTTPublisher, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("mqtt.url: %q is not a broker URL (tcp://host:port)", opts.URL)
	}
	for _, f := range opts.Failover {
		if fu, err := url.Parse(f); err != nil || fu.Host == "" {
			return nil, fmt.Errorf("mqtt.failover: %q is not a broker URL (tcp://host:port)", f)
		}
	}
	if opts.ClientID == "" {
		// Each replica its own: two clients with one ID take turns kicking each other off.
		opts.ClientID = "mirror-cloud-" + rand.Text()[:10]
	}
	o := paho.NewClientOptions()
	for _, u := range append([]string{opts.URL}, opts.Failover...) {
		o.AddBroker(u)
	}
	// MQTT 3.1.1 only: paho would retry a refused CONNECT with 3.1 and report that error.
	o.SetProtocolVersion(4).SetClientID(opts.ClientID).
		SetUsername(opts.Username).SetPassword(opts.Password).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(2 * time.Second).
		SetMaxReconnectInterval(30 * time.Second).SetCleanSession(true)
	p := &MQTTPublisher{urls: append([]string{opts.URL}, opts.Failover...), subs: map[string]paho.MessageHandler{}}
	o.SetOnConnectHandler(func(c paho.Client) {
		p.resubscribe(c)
		if opts.OnConnect != nil {
			opts.OnConnect()
		}
	})
	c := paho.NewClient(o)
	p.c = c
	tok := c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("mqtt: connect %s: %w", opts.URL, err)
		}
	case <-ctx.Done():
		c.Disconnect(0)
		return nil, fmt.Errorf("mqtt: connect %s: %w", opts.URL, ctx.Err())
	}
	return p, nil
}

// Subscribe hands every message on filter (QoS 1) to fn, now and after each reconnection
// (the session is clean): the fleet console's view of the mirrors. The broker must let the
// hub's account read the topics (the shipped ACL's _hub does).
func (p *MQTTPublisher) Subscribe(filter string, fn func(topic string, payload []byte)) error {
	h := func(_ paho.Client, m paho.Message) { fn(m.Topic(), m.Payload()) }
	p.mu.Lock()
	p.subs[filter] = h
	p.mu.Unlock()
	tok := p.c.Subscribe(filter, 1, h)
	if !tok.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("mqtt: subscribe %s: no answer from the broker", filter)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("mqtt: subscribe %s: %w", filter, err)
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for _, q := range st.Result() {
			if q == 0x80 {
				return fmt.Errorf("mqtt: subscribe %s: refused by the broker (its ACL)", filter)
			}
		}
	}
	return nil
}

func (p *MQTTPublisher) resubscribe(c paho.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for f, h := range p.subs {
		c.Subscribe(f, 1, h) // the handler runs on paho's goroutine: no waiting here
	}
}

// Publish sends at QoS 1 and waits for the broker's PUBACK (or ctx).
func (p *MQTTPublisher) Publish(ctx context.Context, topic string, payload []byte) error {
	return p.publish(ctx, topic, false, payload)
}

// PublishRetained sends a retained message at QoS 1 (the console's desired configuration)
// and waits for the broker's PUBACK (or ctx).
func (p *MQTTPublisher) PublishRetained(ctx context.Context, topic string, payload []byte) error {
	return p.publish(ctx, topic, true, payload)
}

func (p *MQTTPublisher) publish(ctx context.Context, topic string, retained bool, payload []byte) error {
	if !p.c.IsConnectionOpen() {
		return fmt.Errorf("mqtt: publish %s: not connected", topic)
	}
	tok := p.c.Publish(topic, 1, retained, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt: publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt: publish %s: %w", topic, ctx.Err())
	}
}

// Reachable reports whether the connection to the broker is up now (for /healthz).
func (p *MQTTPublisher) Reachable(context.Context) error {
	if !p.c.IsConnectionOpen() {
		return fmt.Errorf("not connected to %s", strings.Join(p.urls, ", "))
	}
	return nil
}

// Close disconnects.
func (p *MQTTPublisher) Close() error {
	p.c.Disconnect(250)
	return nil
}
