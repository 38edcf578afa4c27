package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/embedbroker"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
)

// TestBindingsAPILimits: GET /v1/bindings answers at most 100 of the device's unacknowledged
// bindings, oldest first, and POST /v1/bindings/ack takes 1 to 100 IDs (docs/contracts.md §2).
func TestBindingsAPILimits(t *testing.T) {
	e := newEnv(t)
	t0 := time.Now().Add(-time.Hour)
	for i := range 105 {
		id := fmt.Sprintf("B%03d", i)
		ev := hubstore.Event{Key: "k" + id, BindingID: id, DeviceID: "m1", PhotoID: "P1", User: "u1",
			Payload: []byte(`{"binding_id":"` + id + `","photo_id":"P1"}`), Reply: []byte("<xml/>"), At: t0.Add(time.Duration(i) * time.Second)}
		if _, _, err := e.store.RecordEvent(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	pending := func() []string {
		t.Helper()
		status, body := e.do("GET", "/v1/bindings", "", nil, e.creds.Token)
		var out struct {
			Bindings []struct {
				BindingID string `json:"binding_id"`
			}
		}
		if err := json.Unmarshal(body, &out); status != 200 || err != nil {
			t.Fatalf("GET /v1/bindings = %d %s (%v)", status, body, err)
		}
		var ids []string
		for _, b := range out.Bindings {
			ids = append(ids, b.BindingID)
		}
		return ids
	}
	if ids := pending(); len(ids) != 100 || ids[0] != "B000" || ids[99] != "B099" {
		t.Errorf("GET /v1/bindings with 105 pending = %d bindings %v…, want the oldest 100, B000 first", len(ids), ids[:min(3, len(ids))])
	}
	ack := func(n int) (int, string) {
		var ids []string
		for i := range n {
			ids = append(ids, fmt.Sprintf(`"B%03d"`, i))
		}
		status, body := e.do("POST", "/v1/bindings/ack", "application/json", []byte(`{"binding_ids":[`+strings.Join(ids, ",")+`]}`), e.creds.Token)
		return status, strings.TrimSpace(string(body))
	}
	if status, body := ack(101); status != 400 || !strings.Contains(body, "want 1-100") {
		t.Errorf("ack of 101 IDs = %d %s, want 400 naming the limit", status, body)
	}
	if status, body := ack(100); status != 200 || body != `{"acked":100}` {
		t.Errorf("ack of 100 IDs = %d %s, want 200 {\"acked\":100}", status, body)
	}
	if ids := pending(); len(ids) != 5 || ids[0] != "B100" {
		t.Errorf("GET /v1/bindings after acknowledging 100 = %v, want B100…B104", ids)
	}
}

// TestDeliveryBackoffDoubles: an unacknowledged binding is published again after 15 s, the
// gap doubling up to 10 min (each gap up to a fifth shorter, the jitter), docs/contracts.md §2.
func TestDeliveryBackoffDoubles(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, func(o *hub.Options) { o.Now = clock })
	e.fake.Now = clock
	_, ticket := e.upload("P1")
	if _, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_dan", false, wechattest.Safe); err != nil {
		t.Fatal(err)
	}
	const step = 5 * time.Second
	var at []time.Duration
	for elapsed := time.Duration(0); elapsed < 50*time.Minute; elapsed += step {
		e.hub.Deliver(t.Context())
		for len(at) < len(e.pub.all()) {
			at = append(at, elapsed)
		}
		mu.Lock()
		now = now.Add(step)
		mu.Unlock()
	}
	want := 15 * time.Second
	for i := 1; i < len(at); i++ {
		if gap := at[i] - at[i-1]; gap < want*4/5-step || gap > want+step {
			t.Errorf("publish %d came %v after the one before, want %v less up to a fifth", i+1, gap, want)
		}
		want = min(2*want, 10*time.Minute)
	}
	if len(at) < 9 {
		t.Errorf("%d publishes in 50 minutes, want the gaps to reach 10 min (at least 9)", len(at))
	}
}

// TestBindingQoSAndRetain: both ways the hub publishes a binding (its embedded broker, an
// external one) send it at the QoS and with the retain flag of the mirror/{id}/binding row of
// docs/contracts.md §1.
func TestBindingQoSAndRetain(t *testing.T) {
	doc, err := os.ReadFile("../../docs/contracts.md")
	if err != nil {
		t.Fatal(err)
	}
	var wantQoS byte
	var wantRetained, found bool
	for _, line := range strings.Split(string(doc), "\n") {
		if c := strings.Split(line, "|"); len(c) > 5 && strings.TrimSpace(c[1]) == "`mirror/{id}/binding`" {
			wantQoS, wantRetained, found = strings.TrimSpace(c[3])[0]-'0', strings.TrimSpace(c[4]) == "yes", true
		}
	}
	if !found {
		t.Fatal("docs/contracts.md: no mirror/{id}/binding row in the topic table")
	}

	embedded, creds := startEmbedded(t)
	mq := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{broker.HubUser: "hubpw", "m1": "m1pw"}})
	connected := make(chan struct{}, 8)
	external, err := hub.DialMQTT(t.Context(), hub.MQTTOptions{URL: mq.URL(), Username: broker.HubUser, Password: "hubpw",
		OnConnect: func() { connected <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer external.Close()
	<-connected

	for _, tc := range []struct {
		name, addr, password string
		pub                  interface {
			Publish(context.Context, string, []byte) error
		}
	}{
		{"embedded", embedded.Addr(), creds.MQTTPassword, embedded},
		{"external", mq.Addr(), "m1pw", external},
	} {
		qos := make(chan byte, 4)
		m1, _, err := connect(t, tc.addr, "m1", tc.password)
		if err != nil {
			t.Fatal(err)
		}
		if tok := m1.Subscribe("mirror/m1/binding", 2, func(_ paho.Client, m paho.Message) { qos <- m.Qos() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: subscribe: %v", tc.name, tok.Error())
		}
		if err := tc.pub.Publish(t.Context(), "mirror/m1/binding", []byte(`{"binding_id":"B1"}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case q := <-qos:
			if q != wantQoS {
				t.Errorf("%s broker: the binding arrived at QoS %d, docs/contracts.md says %d", tc.name, q, wantQoS)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s broker: no binding within 10 s", tc.name)
		}
		m1.Disconnect(0)
		// A newcomer gets the binding only if it was retained.
		again, _, err := connect(t, tc.addr, "m1", tc.password)
		if err != nil {
			t.Fatal(err)
		}
		retained := make(chan bool, 4)
		again.Subscribe("mirror/m1/binding", 1, func(_ paho.Client, m paho.Message) { retained <- m.Retained() }).Wait()
		got := false
		select {
		case got = <-retained:
		case <-time.After(500 * time.Millisecond):
		}
		if got != wantRetained {
			t.Errorf("%s broker: binding retained = %v, docs/contracts.md says %v", tc.name, got, wantRetained)
		}
		again.Disconnect(0)
	}
}

// startEmbedded runs the embedded broker on a fresh registry with the device m1.
func startEmbedded(t *testing.T) (*embedbroker.Broker, hub.Credentials) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	creds, err := hub.AddDevice(t.Context(), st, "m1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := embedbroker.New(embedbroker.Options{Listen: "127.0.0.1:0", Store: st, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return b, creds
}
