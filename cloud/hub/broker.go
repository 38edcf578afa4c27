package hub

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// BrokerOptions configure the embedded broker.
type BrokerOptions struct {
	Listen      string // host:port, e.g. "127.0.0.1:1883" or ":1883"
	Store       Store  // devices authenticate with their MQTT password from the registry
	TopicPrefix string // "" = "mirror"; a device may use only {prefix}/{username}/#
	// OpsPassword, when set, lets the operator account "_ops" (mirrorctl's default user) log
	// in and use every topic under {prefix}/#: list mirrors, send commands and configuration,
	// follow events. Empty: no operator account.
	OpsPassword string
	Logger      *slog.Logger
}

// OpsUser is the operator account of the embedded broker (the same name the shipped
// mosquitto configuration uses; device IDs cannot start with "_").
const OpsUser = "_ops"

// Broker is the embedded MQTT broker of a small install (mochi-mqtt). Devices log in with
// username = device ID and their MQTT password, and may publish and subscribe only under
// mirror/{username}/#. The hub publishes through it in-process.
type Broker struct {
	srv  *mqtt.Server
	ln   net.Listener
	addr string
}

var _ Publisher = (*Broker)(nil)

// NewBroker binds the listener; Run serves it.
func NewBroker(opts BrokerOptions) (*Broker, error) {
	if opts.Store == nil {
		return nil, errors.New("broker: Store is required")
	}
	if opts.TopicPrefix == "" {
		opts.TopicPrefix = "mirror"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("mqtt.embedded.listen: %w", err)
	}
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: opts.Logger.With("part", "broker")})
	if err := srv.AddHook(&authHook{store: opts.Store, prefix: opts.TopicPrefix, opsPassword: opts.OpsPassword}, nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	b := &Broker{srv: srv, ln: ln, addr: ln.Addr().String()}
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
	<-ctx.Done()
	return b.Close()
}

// Reachable: the embedded broker runs in the hub's process, so it is reachable while the
// hub runs.
func (b *Broker) Reachable(context.Context) error { return nil }

// Close stops the broker and its listener.
func (b *Broker) Close() error { return b.srv.Close() }

// Publish sends a message at QoS 1 to the subscribers (not retained).
func (b *Broker) Publish(_ context.Context, topic string, payload []byte) error {
	return b.srv.Publish(topic, payload, false, 1)
}

// authHook authenticates devices from the registry and limits each to its own topics.
type authHook struct {
	mqtt.HookBase
	store       Store
	prefix      string
	opsPassword string
}

func (h *authHook) ID() string { return "fitmirror-device-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	if user == OpsUser {
		return h.opsPassword != "" && subtle.ConstantTimeCompare(pk.Connect.Password, []byte(h.opsPassword)) == 1
	}
	if !DeviceIDPattern.MatchString(user) {
		return false
	}
	return CheckMQTT(context.Background(), h.store, user, pk.Connect.Password)
}

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if user == OpsUser && h.opsPassword != "" {
		return strings.HasPrefix(topic, h.prefix+"/")
	}
	own := h.prefix + "/" + user + "/"
	return user != "" && strings.HasPrefix(topic, own) && !strings.ContainsAny(user, "+#/")
}
