package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/fitmirror/fitmirror/internal/backoff"
	"github.com/fitmirror/fitmirror/internal/debpkg"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// Client is a mirror's connection to the fleet broker. Create it with [New], run it with
// [Client.Run]; SetDegraded and SetHealthy may be called at any time from any goroutine.
type Client struct {
	opts    Options
	brokers []string // Broker, then Failover
	next    int      // index in brokers the next connection attempt starts with (Run's goroutine)
	topics  wire.Topics
	log     *slog.Logger
	start   time.Time
	back    backoff.Backoff
	cnt     counters

	mu      sync.Mutex
	state   string // online or degraded
	reason  string
	since   time.Time
	target  string // the version an update is installing ("" when none is)
	runCtx  context.Context
	changed chan struct{} // status changed, coalesced

	requests *requestLog
	bindings *seenSet
	acks     chan string   // binding IDs to acknowledge to the hub
	catchUp  chan struct{} // fetch missed bindings from the hub

	cfgMu       sync.Mutex
	lastDesired int64

	dropped   atomic.Int64
	connected atomic.Bool
	current   atomic.Pointer[string] // the broker URL of the live connection
}

// New checks opts and returns a Client; it does not connect.
func New(opts Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	now := o.Now()
	return &Client{
		opts:     o,
		brokers:  append([]string{o.Broker}, o.Failover...),
		topics:   wire.Topics{Prefix: o.TopicPrefix, Device: o.DeviceID},
		log:      o.Logger.With("component", "fleet"),
		start:    now,
		back:     backoff.Backoff{Min: o.ReconnectMin, Max: o.ReconnectMax, Rand: o.Rand},
		state:    wire.StateOnline,
		since:    now,
		changed:  make(chan struct{}, 1),
		requests: newRequestLog(o.RememberRequests),
		bindings: newSeenSet(o.RememberBindings),
		acks:     make(chan string, 1024),
		catchUp:  make(chan struct{}, 1),
	}, nil
}

// Topics returns the client's topic names.
func (c *Client) Topics() wire.Topics { return c.topics }

// Connected reports whether the client is connected to the broker now (subscribed, status
// published).
func (c *Client) Connected() bool { return c.connected.Load() }

// Broker returns the URL of the broker (among Options.Broker and Failover) the client is
// connected to, or "" while it is not connected.
func (c *Client) Broker() string {
	if !c.connected.Load() {
		return ""
	}
	if u := c.current.Load(); u != nil {
		return *u
	}
	return ""
}

// brokerOrder is the order of the next connection attempt: from c.next round the list.
func (c *Client) brokerOrder() []string {
	out := make([]string, 0, len(c.brokers))
	for i := range c.brokers {
		out = append(out, c.brokers[(c.next+i)%len(c.brokers)])
	}
	return out
}

// brokerList names the brokers for log lines: the one URL, or all of them.
func (c *Client) brokerList() string {
	return strings.Join(c.brokers, ",")
}

// Traffic returns the bytes and writes of all connections so far.
func (c *Client) Traffic() Traffic {
	return Traffic{BytesIn: c.cnt.in.Load(), BytesOut: c.cnt.out.Load(), Writes: c.cnt.writes.Load()}
}

// SetDegraded marks the mirror degraded (the camera or the display is lost) with a reason;
// the retained status changes at once when connected, else on the next connection.
func (c *Client) SetDegraded(reason string) { c.setState(wire.StateDegraded, reason) }

// SetHealthy marks the mirror online again.
func (c *Client) SetHealthy() { c.setState(wire.StateOnline, "") }

// SetTargetVersion publishes the version an update is installing in the retained status
// (target_version), or none ("").
func (c *Client) SetTargetVersion(v string) {
	c.mu.Lock()
	if c.target == v {
		c.mu.Unlock()
		return
	}
	c.target = v
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *Client) setState(state, reason string) {
	c.mu.Lock()
	if c.state == state && c.reason == reason {
		c.mu.Unlock()
		return
	}
	c.state, c.reason, c.since = state, reason, c.opts.Now()
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *Client) status() wire.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return wire.Status{State: c.state, Since: wire.Time{Time: c.since}, Version: c.opts.Version, Arch: debpkg.Arch(runtime.GOARCH),
		Reason: c.reason, TargetVersion: c.target}
}

// conn is one MQTT connection (a fresh paho client per connection).
type conn struct {
	mc       mqtt.Client
	url      string // the broker it reached
	lost     chan struct{}
	lostOnce sync.Once
	lostErr  error
}

func (cn *conn) markLost(err error) {
	cn.lostOnce.Do(func() {
		cn.lostErr = err
		close(cn.lost)
	})
}

// Run connects and keeps the mirror connected until ctx ends; then it publishes the offline
// status, disconnects and returns nil. It never gives up on the broker: connection failures,
// refused credentials included (they may be fixed on the broker), are logged and retried
// with a jittered backoff. Use [Probe] to check the settings once.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	c.runCtx = ctx
	c.mu.Unlock()
	trimCtx, stopTrim := context.WithCancel(ctx)
	trimDone := make(chan struct{})
	go func() { defer close(trimDone); c.trimLoop(trimCtx) }()
	bindDone := make(chan struct{})
	go func() { defer close(bindDone); c.bindingLoop(trimCtx) }()
	defer func() { stopTrim(); <-trimDone; <-bindDone }()
	attempt := 0
	for ctx.Err() == nil {
		cn, err := c.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			wait := c.back.Delay(attempt)
			attempt++
			if refusedLogin(err) {
				c.log.Warn("broker refused the login: check device.id and mqtt.password (or the client certificate) against the broker's users",
					"broker", c.brokerList(), "device", c.opts.DeviceID, "err", err, "retry_in", wait.Round(time.Millisecond))
			} else {
				c.log.Warn("broker unreachable", "broker", c.brokerList(), "err", err, "retry_in", wait.Round(time.Millisecond))
			}
			if backoff.Sleep(ctx, wait) != nil {
				break
			}
			continue
		}
		attempt = 0
		c.current.Store(&cn.url)
		c.log.Info("connected to broker", "broker", cn.url, "device", c.opts.DeviceID)
		c.requestCatchUp() // bindings published while we were away
		if ctx.Err() == nil {
			c.serve(ctx, cn)
		}
		if ctx.Err() != nil {
			c.goodbye(cn)
			return nil
		}
		cn.mc.Disconnect(0)
		// The next attempt starts with the broker after the one just lost: in a cluster,
		// another node is up while the lost one may be down (or restarting).
		c.next = (slices.Index(c.brokers, cn.url) + 1) % len(c.brokers)
		wait := c.back.Delay(0)
		attempt = 1
		c.log.Warn("connection to broker lost", "broker", cn.url, "err", cn.lostErr, "retry_in", wait.Round(time.Millisecond))
		if backoff.Sleep(ctx, wait) != nil {
			break
		}
	}
	return nil
}

// refusedLogin reports whether the broker answered the CONNECT with a refusal of the
// credentials (MQTT return codes 4 and 5) rather than being out of reach.
func refusedLogin(err error) bool {
	return errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) || errors.Is(err, packets.ErrorRefusedNotAuthorised)
}

// connect opens one connection, subscribes and publishes the current status.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	cn := &conn{lost: make(chan struct{})}
	// up is closed once paho's Connect has finished, resume of its session store included.
	// Nothing publishes before that: paho v1.5.1 races (a data race on the packet's DUP flag)
	// when a message is published while Connect is still resuming the store.
	up := make(chan struct{})
	o := mqtt.NewClientOptions()
	for _, b := range c.brokerOrder() {
		o.AddBroker(b)
	}
	var dialed atomic.Pointer[string] // the URL of the last dial: paho tries them in turn
	// MQTT 3.1.1 only (docs/contracts.md): left open, paho retries a refused CONNECT with
	// MQTT 3.1 and reports that attempt's error, which hides the refusal (NATS closes the
	// connection: "EOF" instead of "not Authorized").
	o.SetProtocolVersion(4).SetClientID(c.opts.DeviceID).
		SetUsername(c.opts.DeviceID).
		SetPassword(c.opts.Password).
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(false).
		SetKeepAlive(c.opts.KeepAlive).
		SetPingTimeout(min(10*time.Second, c.opts.KeepAlive)).
		SetConnectTimeout(c.opts.ConnectTimeout).
		SetWriteTimeout(c.opts.PublishTimeout).
		SetBinaryWill(c.topics.Status(), []byte(wire.WillPayload), 1, true).
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			s := c.brokerURL(u)
			dialed.Store(&s)
			return dial(u, c.opts.TLS, c.opts.ConnectTimeout, &c.cnt)
		}).
		// Registered before connecting: with a persistent session the broker may deliver
		// queued commands right after CONNACK, before any SUBSCRIBE of this connection.
		// With OrderMatters false each message runs on its own goroutine, so waiting for up here
		// does not hold up paho's router.
		SetDefaultPublishHandler(func(mc mqtt.Client, m mqtt.Message) {
			select {
			case <-up:
				c.handle(mc, m)
			case <-cn.lost:
			}
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { cn.markLost(err) })
	cn.mc = mqtt.NewClient(o)
	// A stop request during the handshake still gets a clean goodbye if the connection comes
	// up within a short grace: a connection dropped without DISCONNECT fires the Last Will.
	const grace = 2 * time.Second
	tok := cn.mc.Connect()
	if !waitDone(ctx, tok.Done(), grace) {
		cn.mc.Disconnect(0)
		return nil, fmt.Errorf("fleet: connect %s: %w", c.brokerList(), context.Cause(ctx))
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("fleet: connect %s: %w", c.brokerList(), err)
	}
	if u := dialed.Load(); u != nil {
		cn.url = *u
	} else {
		cn.url = c.opts.Broker
	}
	close(up)
	ready := make(chan error, 1)
	go func() { ready <- c.onConnect(cn.mc) }()
	var setup error
	t := time.NewTimer(c.opts.ConnectTimeout + c.opts.PublishTimeout)
	defer t.Stop()
	select {
	case setup = <-ready:
	case <-cn.lost:
		return nil, fmt.Errorf("fleet: connect %s: lost during setup: %v", cn.url, cn.lostErr)
	case <-t.C:
		setup = fmt.Errorf("fleet: connect %s: no SUBACK within %s", cn.url, c.opts.ConnectTimeout+c.opts.PublishTimeout)
	case <-ctx.Done():
		gt := time.NewTimer(grace)
		defer gt.Stop()
		select {
		case setup = <-ready:
		case <-cn.lost:
			return nil, ctx.Err()
		case <-gt.C:
			setup = ctx.Err()
		}
	}
	if setup != nil {
		cn.mc.Disconnect(250)
		return nil, setup
	}
	return cn, nil
}

// brokerURL maps the URL paho dials back to the configured string it came from.
func (c *Client) brokerURL(u *url.URL) string {
	for _, b := range c.brokers {
		if pu, err := url.Parse(b); err == nil && pu.Scheme == u.Scheme && pu.Host == u.Host {
			return b
		}
	}
	return u.String()
}

// waitDone waits for done; once ctx ends it waits at most grace more.
func waitDone(ctx context.Context, done <-chan struct{}, grace time.Duration) bool {
	select {
	case <-done:
		return true
	case <-ctx.Done():
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// onConnect runs on each (re)connection: subscribe (again: a broker restarted without
// persistence forgot the session) and announce the status.
func (c *Client) onConnect(mc mqtt.Client) error {
	subs := map[string]byte{
		c.topics.Command("+"): 1,
		c.topics.Desired():    1,
		c.topics.Binding():    1,
	}
	tok := mc.SubscribeMultiple(subs, nil)
	if !tok.WaitTimeout(c.opts.PublishTimeout) {
		return errors.New("fleet: subscribe: no SUBACK")
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("fleet: subscribe: %w", err)
	}
	for topic, code := range tok.(*mqtt.SubscribeToken).Result() {
		if code == 0x80 {
			return fmt.Errorf("fleet: subscribe %s: refused by the broker (check the ACL)", topic)
		}
	}
	c.mu.Lock()
	c.since = c.opts.Now() // in this state, as far as the fleet can tell, since this connection
	c.mu.Unlock()
	return c.publishStatus(mc, c.status())
}

func (c *Client) publishStatus(mc mqtt.Client, s wire.Status) error {
	b, _ := json.Marshal(s)
	tok := mc.Publish(c.topics.Status(), 1, true, b)
	if !tok.WaitTimeout(c.opts.PublishTimeout) {
		return errors.New("fleet: publish status: no PUBACK")
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("fleet: publish status: %w", err)
	}
	return nil
}

// serve runs the event publisher and telemetry on one connection until it is lost or ctx ends.
func (c *Client) serve(ctx context.Context, cn *conn) {
	c.connected.Store(true)
	defer c.connected.Store(false)
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := c.publishEvents(cctx, cn); err != nil && cctx.Err() == nil {
			c.log.Warn("event publishing stopped", "err", err)
			cn.mc.Disconnect(0)
			cn.markLost(err)
		}
	}()
	go func() {
		defer wg.Done()
		c.telemetryLoop(cctx, cn)
	}()
	for done := false; !done; {
		select {
		case <-c.changed:
			if err := c.publishStatus(cn.mc, c.status()); err != nil {
				c.log.Warn("status not published", "err", err)
				// Retry on the next connection (or change).
				select {
				case c.changed <- struct{}{}:
				default:
				}
				done = true
			}
		case <-cn.lost:
			done = true
		case <-ctx.Done():
			done = true
		}
	}
	cancel()
	wg.Wait()
}

// goodbye publishes the offline status and disconnects cleanly (no Last Will).
func (c *Client) goodbye(cn *conn) {
	s := c.status()
	s.State, s.Reason, s.Since = wire.StateOffline, "shutdown", wire.Time{Time: c.opts.Now()}
	b, _ := json.Marshal(s)
	tok := cn.mc.Publish(c.topics.Status(), 1, true, b)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			c.log.Warn("offline status not published", "err", err)
		}
	case <-cn.lost:
	case <-time.After(2 * time.Second):
		c.log.Warn("offline status not acknowledged")
	}
	cn.mc.Disconnect(250)
	c.log.Info("disconnected from broker")
}

// handle dispatches an incoming message; paho runs it on its own goroutine and sends the
// PUBACK when it returns.
func (c *Client) handle(mc mqtt.Client, m mqtt.Message) {
	c.mu.Lock()
	ctx := c.runCtx
	c.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	rest, ok := strings.CutPrefix(m.Topic(), c.topics.Prefix+"/"+c.topics.Device+"/")
	if !ok {
		c.log.Warn("message on a foreign topic ignored", "topic", m.Topic())
		return
	}
	switch {
	case strings.HasPrefix(rest, "cmd/") && !strings.Contains(rest[len("cmd/"):], "/"):
		c.onCommand(ctx, mc, rest[len("cmd/"):], m.Payload())
	case rest == "config/desired":
		c.onDesired(ctx, mc, m.Payload())
	case rest == "binding":
		c.onBinding(ctx, m.Payload())
	default:
		c.log.Debug("message ignored", "topic", m.Topic())
	}
}

// publish sends a QoS 1 message and waits for its PUBACK (or the connection's loss).
func (c *Client) publish(mc mqtt.Client, topic string, retained bool, payload []byte) error {
	tok := mc.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(c.opts.PublishTimeout) {
		return fmt.Errorf("fleet: publish %s: no PUBACK within %s", topic, c.opts.PublishTimeout)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("fleet: publish %s: %w", topic, err)
	}
	return nil
}
