package fleet

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// Outbox is what the client needs from the durable event outbox; *store.DB implements it.
type Outbox interface {
	// Pending returns up to limit events with Seq > after, oldest first.
	Pending(ctx context.Context, after uint64, limit int) ([]wire.Event, error)
	// Ack deletes the events with Seq <= seq.
	Ack(ctx context.Context, seq uint64) error
	// Depth is the number of events waiting.
	Depth(ctx context.Context) (int, error)
	// Appended is signalled (coalesced) after each new event.
	Appended() <-chan struct{}
}

// Trimmer is the optional part of an [Outbox] that enforces Options.MaxOutbox.
type Trimmer interface {
	// TrimOutbox drops the oldest events beyond max and returns how many went.
	TrimOutbox(ctx context.Context, max int) (int, error)
}

// CommandFunc runs one command. args is the request's "args" (nil when absent). The
// returned value becomes the result's "data" (JSON); an error becomes ok:false with the
// [wire.Error]'s code when it is (or wraps) a *wire.Error, "failed" otherwise.
type CommandFunc func(ctx context.Context, args json.RawMessage) (any, error)

// ApplyFunc applies a desired configuration given as dotted "key=value" settings (the same
// form as mirror-agent's --set, see [Flatten]), validating it with the same rules as the
// configuration file. It returns the effective configuration after the change; on error
// nothing may have changed, and effective (if not nil) is the configuration still in force.
// The error's text is reported as is: make it one line naming the key. effective is
// published (retained) on config/reported: leave out secrets such as passwords and tokens.
// Keys that must not change over MQTT (device.id, mqtt.*, state_dir) are the agent's to refuse.
type ApplyFunc func(ctx context.Context, version int64, sets []string) (effective any, err error)

// Options configures a [Client]. Broker and DeviceID are required; every other field has
// the default named in its comment. New does not modify the caller's Options.
type Options struct {
	// Broker is the broker URL: tcp:// or mqtt:// (plain), ssl://, tls:// or mqtts:// (TLS).
	// Config key mqtt.url.
	Broker string
	// Failover are more URLs of the same clustered broker (EMQX, VerneMQ, a NATS cluster):
	// every connection attempt tries Broker and these in turn, and after a lost connection
	// the next attempt starts with the URL after the one that was lost, so a mirror whose
	// node went down reconnects to another at once. Config key mqtt.failover.
	Failover []string
	// DeviceID is the client ID and the MQTT username (^[a-z0-9][a-z0-9-]{0,62}$). Config
	// key device.id; mqtt.username must be empty or equal to it.
	DeviceID string
	// Password is the device's MQTT password (mqtt.password); empty with client certificates.
	Password string
	// TLS is used for ssl://, tls:// and mqtts:// brokers; nil means the system roots and no
	// client certificate. See [TLSConfig] for mqtt.tls.{ca,cert,key}.
	TLS *tls.Config
	// TopicPrefix is the first topic level (mqtt.topic_prefix); default "mirror".
	TopicPrefix string
	// Version is the agent's version, published in the status and by ping.
	Version string

	// TelemetryInterval is the telemetry period (telemetry_interval); default 30s; a
	// negative value turns telemetry off.
	TelemetryInterval time.Duration
	// Telemetry returns the agent's measurements; the client sets At, UptimeS,
	// OutboxDepth and OutboxDropped. A [SystemSampler] fills CPU, memory, temperature and
	// disk. Nil: telemetry carries only what the client knows.
	Telemetry func(ctx context.Context) wire.Telemetry

	// Outbox is the durable event outbox; nil: no events are published.
	Outbox Outbox
	// EventBatch is how many events may await their PUBACK at once; default 32.
	EventBatch int
	// MaxOutbox bounds the outbox (while the broker is unreachable it only grows): beyond
	// it the oldest events are dropped, counted (telemetry outbox_dropped) and reported to
	// OnDrop. Default 200000 (about 60 MB of SQLite); a negative value means no bound.
	// It needs an Outbox with TrimOutbox(ctx, max) (int, error), as *store.DB has.
	MaxOutbox int
	// OnDrop is told how many events the bound dropped, e.g. to record an event saying
	// so; it runs on the client's trimming goroutine.
	OnDrop func(ctx context.Context, dropped int)
	// TrimInterval is how often the bound is enforced; default 30s.
	TrimInterval time.Duration

	// Commands are the command handlers by name ("end-session", "purge-photos",
	// "set-light", "restart", "snapshot", …). "ping" is built in unless given here.
	Commands map[string]CommandFunc
	// AllowSnapshot lets the "snapshot" command run (fleet.allow_snapshot); without it a
	// snapshot request is refused with code "forbidden", whatever Commands holds.
	AllowSnapshot bool
	// RememberRequests is how many request IDs (and their results) are kept to answer a
	// repeated request without running it again; default 1024.
	RememberRequests int

	// ApplyConfig applies config/desired; nil: desired configuration is reported as
	// unsupported.
	ApplyConfig ApplyFunc

	// OnBinding receives each binding from the hub once per binding_id.
	OnBinding func(ctx context.Context, b wire.Binding)
	// Hub, when set, is asked for missed bindings after every (re)connection and told of
	// every binding received (the hub delivers a binding until it is acknowledged).
	Hub BindingHub
	// RememberBindings is how many binding IDs are kept for de-duplication; default 4096.
	RememberBindings int

	// KeepAlive is the MQTT keep-alive; default 30s. The broker fires the Last Will about
	// 1.5 keep-alives after a mirror went silent.
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt; default 10s.
	ConnectTimeout time.Duration
	// PublishTimeout bounds the wait for a PUBACK before the connection is considered dead;
	// default 20s.
	PublishTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the jittered reconnect delay; defaults 1s and 60s.
	ReconnectMin, ReconnectMax time.Duration

	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock (command expiry, timestamps); default time.Now.
	Now func() time.Time
	// Rand returns numbers in [0,1) for the reconnect jitter; default math/rand/v2.
	Rand func() float64
}

// CheckBrokerURL reports whether u is a broker URL the client can dial: tcp:// or mqtt://
// (plain), ssl://, tls:// or mqtts:// (TLS), with a host.
func CheckBrokerURL(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("fleet: broker URL %q: %w", u, err)
	}
	switch pu.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts":
	default:
		return fmt.Errorf("fleet: broker URL %q: scheme must be tcp, mqtt, ssl, tls or mqtts", u)
	}
	if pu.Host == "" {
		return fmt.Errorf("fleet: broker URL %q: no host", u)
	}
	return nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Broker == "" {
		return o, errors.New("fleet: broker URL is required (mqtt.url)")
	}
	if err := CheckBrokerURL(o.Broker); err != nil {
		return o, err
	}
	for _, f := range o.Failover {
		if err := CheckBrokerURL(f); err != nil {
			return o, fmt.Errorf("%w (mqtt.failover)", err)
		}
	}
	o.Failover = append([]string(nil), o.Failover...)
	if !wire.ValidDeviceID(o.DeviceID) {
		return o, fmt.Errorf("fleet: device ID %q must match %s", o.DeviceID, wire.DeviceIDRule)
	}
	if o.TopicPrefix == "" {
		o.TopicPrefix = wire.DefaultTopicPrefix
	}
	if o.TelemetryInterval == 0 {
		o.TelemetryInterval = 30 * time.Second
	}
	if o.EventBatch <= 0 {
		o.EventBatch = 32
	}
	if o.MaxOutbox == 0 {
		o.MaxOutbox = 200000
	}
	if o.TrimInterval <= 0 {
		o.TrimInterval = 30 * time.Second
	}
	if o.RememberRequests <= 0 {
		o.RememberRequests = 1024
	}
	if o.RememberBindings <= 0 {
		o.RememberBindings = 4096
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 30 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 20 * time.Second
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = time.Second
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 60 * time.Second
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	cmds := make(map[string]CommandFunc, len(o.Commands)+1)
	for k, v := range o.Commands {
		cmds[k] = v
	}
	o.Commands = cmds
	return o, nil
}
