// Package embedbroker is the MQTT broker a small install runs inside mirror-cloud
// (mochi-mqtt): devices authenticate from the hub's registry and each may use only its own
// topics. cmd/mirror-cloud starts it when mqtt.embedded is set and hands it to the hub as its
// hub.Publisher; a larger install uses mosquitto or NATS (cloud/fleet/broker) instead.
package embedbroker

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/internal/wire"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Options configure the embedded broker.
type Options struct {
	Listen      string    // host:port, e.g. "127.0.0.1:1883" or ":1883"
	Store       hub.Store // devices authenticate with their MQTT password from the registry
	TopicPrefix string    // "" = "mirror"; a device may use only {prefix}/{username}/#
	// OpsPassword, when set, lets the operator account "_ops" (mirrorctl's default user) log
	// in and use every topic under {prefix}/#: list mirrors, send commands and configuration,
	// follow events. Empty: no operator account.
	OpsPassword string
	// Recheck is how often the devices' live sessions are checked against the registry: a
	// session whose device was rotated (mirror-cloud device rotate, from another process) or
	// removed since it logged in is disconnected. 0 = every second.
	Recheck time.Duration
	Logger  *slog.Logger
}

// OpsUser is the operator account of the embedded broker (the same name the shipped
// mosquitto configuration uses; device IDs cannot start with "_").
const OpsUser = "_ops"

// Broker is the embedded MQTT broker of a small install (mochi-mqtt). Devices log in with
// username = device ID and their MQTT password, and may publish and subscribe only under
// mirror/{username}/#. The hub publishes through it in-process.
type Broker struct {
	srv     *mqtt.Server
	ln      net.Listener
	addr    string
	hook    *authHook
	recheck time.Duration
	subID   int // the last inline subscription's ID
}

var _ hub.Publisher = (*Broker)(nil)

// New binds the listener; Run serves it.
func New(opts Options) (*Broker, error) {
	if opts.Store == nil {
		return nil, errors.New("broker: Store is required")
	}
	if opts.TopicPrefix == "" {
		opts.TopicPrefix = "mirror"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Recheck <= 0 {
		opts.Recheck = time.Second
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("mqtt.embedded.listen: %w", err)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	// A packet larger than a message plus its header is refused before it is read (the
	// connection is closed), in line with mosquitto's message_size_limit in the shipped config.
	caps.MaximumPacketSize = MaxMessageBytes + maxHeaderBytes
	// Messages kept per client (queued for an offline mirror, or in flight): mosquitto's
	// max_queued_messages of the shipped config.
	caps.MaximumInflight = maxQueuedMessages
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Capabilities: caps, Logger: opts.Logger.With("part", "broker")})
	hook := &authHook{store: opts.Store, prefix: opts.TopicPrefix, opsPassword: opts.OpsPassword,
		log: opts.Logger.With("part", "broker"), retained: map[string]map[string]bool{}, warned: map[string]bool{},
		passwords: map[*mqtt.Client][]byte{}}
	if err := srv.AddHook(hook, nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	b := &Broker{srv: srv, ln: ln, addr: ln.Addr().String(), hook: hook, recheck: opts.Recheck}
	if err := srv.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	return b, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// Run serves until ctx ends, then closes the broker.
func (b *Broker) Run(ctx context.Context) error {
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	t := time.NewTicker(b.recheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return b.Close()
		case <-t.C:
			b.Revoke(ctx)
		}
	}
}

// Revoke disconnects every device session whose credentials no longer hold: the device was
// rotated or removed since it logged in. Run calls it every Recheck; it returns how many it
// closed.
func (b *Broker) Revoke(ctx context.Context) int {
	n := 0
	for _, cl := range b.hook.sessions() {
		user := string(cl.Properties.Username)
		if cl.Closed() || hub.CheckMQTT(ctx, b.hook.store, user, b.hook.password(cl)) {
			continue
		}
		if ctx.Err() != nil {
			return n
		}
		// A store that cannot answer is not a revocation: check it is the device that is gone
		// or changed, not the database.
		if _, err := b.hook.store.Device(ctx, user); err != nil && !errors.Is(err, hub.ErrNotFound) {
			b.hook.log.Warn("broker: cannot check the credentials of live sessions", "err", err)
			return n
		}
		b.hook.log.Warn("broker: credentials rotated or device removed: session closed", "device", user, "remote", cl.Net.Remote)
		b.srv.DisconnectClient(cl, packets.ErrNotAuthorized)
		b.hook.forget(cl)
		n++
	}
	return n
}

// Reachable: the embedded broker runs in the hub's process, so it is reachable while the
// hub runs.
func (b *Broker) Reachable(context.Context) error { return nil }

// Subscribe hands every message on filter to fn, in-process (retained ones at once): the
// fleet console's view of the mirrors. The hub's own subscriptions bypass the ACL.
func (b *Broker) Subscribe(filter string, fn func(topic string, payload []byte)) error {
	b.subID++
	return b.srv.Subscribe(filter, b.subID, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		fn(pk.TopicName, pk.Payload)
	})
}

// Close stops the broker and its listener.
func (b *Broker) Close() error { return b.srv.Close() }

// Publish sends a message at QoS 1 to the subscribers (not retained).
func (b *Broker) Publish(_ context.Context, topic string, payload []byte) error {
	return b.srv.Publish(topic, payload, false, 1)
}

// PublishRetained sends a retained message at QoS 1 (the console's desired configuration).
func (b *Broker) PublishRetained(_ context.Context, topic string, payload []byte) error {
	return b.srv.Publish(topic, payload, true, 1)
}

// Limits of the embedded broker, the same as the shipped mosquitto configuration's.
const (
	// MaxMessageBytes is the largest payload accepted (mosquitto's message_size_limit).
	MaxMessageBytes = 262144
	// MaxRetainedPerDevice bounds the retained topics one device may hold (it uses two: status
	// and config/reported); a retained message on a further topic is acknowledged and dropped.
	MaxRetainedPerDevice = 8
	maxHeaderBytes       = 4096 // fixed header, topic and properties around a payload
	maxQueuedMessages    = 1000 // mosquitto's max_queued_messages
)

// authHook authenticates devices from the registry, ties each device's session to its
// username, limits it to its own topics and bounds what it may retain.
type authHook struct {
	mqtt.HookBase
	store       hub.Store
	prefix      string
	opsPassword string
	log         *slog.Logger

	mu        sync.Mutex
	retained  map[string]map[string]bool // device → its retained topics
	warned    map[string]bool            // device → its over-limit publish was logged
	passwords map[*mqtt.Client][]byte    // a device session → the password it logged in with
}

// sessions are the device sessions that logged in.
func (h *authHook) sessions() []*mqtt.Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*mqtt.Client, 0, len(h.passwords))
	for cl := range h.passwords {
		out = append(out, cl)
	}
	return out
}

func (h *authHook) password(cl *mqtt.Client) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.passwords[cl]
}

func (h *authHook) forget(cl *mqtt.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.passwords, cl)
}

// OnDisconnect forgets a session's password.
func (h *authHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) { h.forget(cl) }

func (h *authHook) ID() string { return "fitmirror-device-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnPublish || b == mqtt.OnDisconnect
}

// OnConnectAuthenticate checks the password. A device's client ID is its username: a device
// that connects with another client ID gets its own ID instead (as mosquitto's
// use_username_as_clientid does), so it can neither take over nor disturb another mirror's
// session, queued commands and bindings included.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	if user == OpsUser {
		return h.opsPassword != "" && subtle.ConstantTimeCompare(pk.Connect.Password, []byte(h.opsPassword)) == 1
	}
	if !wire.ValidDeviceID(user) {
		return false
	}
	if !hub.CheckMQTT(context.Background(), h.store, user, pk.Connect.Password) {
		return false
	}
	if cl.ID != user {
		h.log.Warn("broker: client ID replaced by the username", "device", user, "client_id", truncate(cl.ID, 64),
			"remote", cl.Net.Remote)
		cl.ID = user
		if cl.Properties.ProtocolVersion == 5 {
			cl.Properties.Props.AssignedClientID = user
		}
	}
	h.mu.Lock()
	h.passwords[cl] = bytes.Clone(pk.Connect.Password)
	h.mu.Unlock()
	return true
}

// OnPublish drops (acknowledged, neither delivered nor retained) a device's message larger
// than MaxMessageBytes and a retained message on more than MaxRetainedPerDevice topics.
func (h *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	user := string(cl.Properties.Username)
	if cl.Net.Inline || user == OpsUser {
		return pk, nil
	}
	if len(pk.Payload) > MaxMessageBytes {
		h.warnOnce(user, "broker: message too large, dropped", "topic", pk.TopicName, "bytes", len(pk.Payload), "limit", MaxMessageBytes)
		return pk, packets.CodeSuccessIgnore
	}
	if !pk.FixedHeader.Retain {
		return pk, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	topics := h.retained[user]
	if len(pk.Payload) == 0 { // clears the retained message
		delete(topics, pk.TopicName)
		return pk, nil
	}
	if !topics[pk.TopicName] {
		if len(topics) >= MaxRetainedPerDevice {
			h.warnOnceLocked(user, "broker: too many retained topics, message dropped", "topic", pk.TopicName, "limit", MaxRetainedPerDevice)
			return pk, packets.CodeSuccessIgnore
		}
		if topics == nil {
			topics = map[string]bool{}
			h.retained[user] = topics
		}
		topics[pk.TopicName] = true
	}
	return pk, nil
}

// warnOnce logs the first dropped message of a device, not every one of a flood.
func (h *authHook) warnOnce(user, msg string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.warnOnceLocked(user, msg, args...)
}

func (h *authHook) warnOnceLocked(user, msg string, args ...any) {
	if h.warned[user] {
		return
	}
	h.warned[user] = true
	h.log.Warn(msg, append([]any{"device", user}, args...)...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if user == OpsUser && h.opsPassword != "" {
		return strings.HasPrefix(topic, h.prefix+"/")
	}
	own := h.prefix + "/" + user + "/"
	return user != "" && strings.HasPrefix(topic, own) && !strings.ContainsAny(user, "+#/")
}
