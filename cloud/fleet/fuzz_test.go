package fleet

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

	"github.com/fitmirror/fitmirror/internal/wire"
)

// wireRecorder is an mqtt.Client that records what the fleet client publishes and acknowledges
// every publish at once: the fuzz targets run the message handlers without a broker. Any other
// method is not expected from a handler and panics (the embedded nil interface).
type wireRecorder struct {
	mqtt.Client
	mu  sync.Mutex
	out []sent
}

type sent struct {
	topic    string
	retained bool
	payload  []byte
}

func (w *wireRecorder) Publish(topic string, _ byte, retained bool, payload any) mqtt.Token {
	b, _ := payload.([]byte)
	w.mu.Lock()
	w.out = append(w.out, sent{topic, retained, append([]byte(nil), b...)})
	w.mu.Unlock()
	return doneToken{}
}

type doneToken struct{}

func (doneToken) Wait() bool                     { return true }
func (doneToken) WaitTimeout(time.Duration) bool { return true }
func (doneToken) Done() <-chan struct{}          { c := make(chan struct{}); close(c); return c }
func (doneToken) Error() error                   { return nil }

// inbound is one message from the broker.
type inbound struct {
	topic   string
	payload []byte
}

func (m inbound) Duplicate() bool   { return false }
func (m inbound) Qos() byte         { return 1 }
func (m inbound) Retained() bool    { return false }
func (m inbound) Topic() string     { return m.topic }
func (m inbound) MessageID() uint16 { return 1 }
func (m inbound) Payload() []byte   { return m.payload }
func (m inbound) Ack()              {}

// FuzzMirrorInbound feeds any payload to the agent's handlers of what arrives from the broker
// (a command request, config/desired, a binding) under any topic suffix. The handlers never
// panic; a command is answered exactly once on its result topic with a result that decodes
// and carries an OK or an error; a desired config is applied only as valid dotted settings
// and any report decodes; a binding reaches the agent only with its IDs. Seeds:
// testdata/fuzz/FuzzMirrorInbound.
func FuzzMirrorInbound(f *testing.F) {
	f.Add("cmd/ping", []byte(`{"id":"r1"}`))
	f.Add("config/desired", []byte(`{"version":3,"config":{"presence":{"enter_dwell":"1s"}}}`))
	f.Add("binding", []byte(`{"binding_id":"B1","photo_id":"P1","openid":"o"}`))
	f.Fuzz(func(t *testing.T, suffix string, payload []byte) {
		var applied [][]string
		var bound []wire.Binding
		c, err := New(Options{
			Broker: "tcp://127.0.0.1:1", DeviceID: "m1",
			Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			Commands: map[string]CommandFunc{"echo": func(_ context.Context, a json.RawMessage) (any, error) { return a, nil }},
			ApplyConfig: func(_ context.Context, _ int64, sets []string) (any, error) {
				applied = append(applied, sets)
				return nil, nil
			},
			OnBinding: func(_ context.Context, b wire.Binding) { bound = append(bound, b) },
		})
		if err != nil {
			t.Fatal(err)
		}
		rec := &wireRecorder{}
		topic := c.topics.Prefix + "/m1/" + suffix
		c.handle(rec, inbound{topic, payload})
		checkInbound(t, c, suffix, rec.out, applied, bound)
	})
}

func checkInbound(t *testing.T, c *Client, suffix string, out []sent, applied [][]string, bound []wire.Binding) {
	t.Helper()
	switch {
	case strings.HasPrefix(suffix, "cmd/") && !strings.Contains(suffix[4:], "/"):
		name := suffix[4:]
		if len(out) != 1 || out[0].topic != c.topics.Result(name) {
			t.Fatalf("command %q answered with %d messages %+v, want one on %s", name, len(out), out, c.topics.Result(name))
		}
		var res wire.CommandResult
		if err := json.Unmarshal(out[0].payload, &res); err != nil {
			t.Fatalf("result %q does not decode: %v", out[0].payload, err)
		}
		if res.OK == (res.Error != nil) {
			t.Fatalf("result %q is neither OK nor an error (or both)", out[0].payload)
		}
		if res.Error != nil && (res.Error.Code == "" || len(res.Error.Message) > maxErrorMessage+40) {
			t.Fatalf("result error %+v: no code or an unbounded message", res.Error)
		}
	case suffix == "config/desired":
		for _, sets := range applied {
			for _, s := range sets {
				k, _, ok := strings.Cut(s, "=")
				if !ok || k == "" || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") || strings.Contains(k, "..") {
					t.Fatalf("applied setting %q is not key=value", s)
				}
			}
		}
		for _, m := range out {
			var rep wire.Reported
			if m.topic != c.topics.Reported() || !m.retained || json.Unmarshal(m.payload, &rep) != nil {
				t.Fatalf("config answer %+v is not a retained report", m)
			}
			if (rep.Error == nil) != (len(applied) == 1) {
				t.Fatalf("report %s after %d applications", m.payload, len(applied))
			}
		}
	case suffix == "binding":
		for _, b := range bound {
			if b.BindingID == "" || b.PhotoID == "" {
				t.Fatalf("binding %+v reached the agent without its IDs", b)
			}
		}
	default:
		if len(out)+len(applied)+len(bound) != 0 {
			t.Fatalf("a message on %q was acted on: %+v %v %v", suffix, out, applied, bound)
		}
	}
}

// FuzzFlatten checks the config/desired flattener on any JSON: it never panics, every setting
// is a dotted key and a value, the settings are sorted, and what Unflatten rebuilds from them
// flattens to the same settings. Seeds: testdata/fuzz/FuzzFlatten.
func FuzzFlatten(f *testing.F) {
	f.Add([]byte(`{"presence":{"enter_dwell":"1s"},"session":{"countdown":3}}`))
	f.Add([]byte(`{"camera":{"tags":["a","b"]}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		sets, err := Flatten(in)
		if err != nil {
			return
		}
		for i, s := range sets {
			k, _, ok := strings.Cut(s, "=")
			if !ok || k == "" {
				t.Fatalf("setting %q is not key=value", s)
			}
			if i > 0 && sets[i-1] > s {
				t.Fatalf("settings not sorted: %q", sets)
			}
		}
		back, err := Unflatten(nil, sets)
		if err != nil {
			return // keys Unflatten reads differently (spaces around a key) are refused there
		}
		again, err := Flatten(back)
		if err != nil {
			t.Fatalf("Flatten(Unflatten(%q)) = %v", sets, err)
		}
		if strings.Join(again, "\n") != strings.Join(sets, "\n") {
			t.Fatalf("round trip changed the settings:\n%q\n%q", sets, again)
		}
	})
}
