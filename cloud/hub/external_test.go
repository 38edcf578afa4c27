package hub_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/embedbroker"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cloud/hubclient"
	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// With an external broker (a real mosquitto with the fleet's shipped ACL, the hub logged in as
// its _hub service account) a scan reaches the device; during a broker outage the binding is
// kept and published once the broker is back. The payload parses as the fleet client's Binding.
func TestExternalBroker(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{broker.HubUser: "hubpw", "m1": "m1pw"}})
	connected := make(chan struct{}, 8)
	pub, err := hub.DialMQTT(t.Context(), hub.MQTTOptions{URL: mq.URL(), Username: broker.HubUser, Password: "hubpw",
		OnConnect: func() { connected <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	<-connected
	m1, got, err := connect(t, mq.Addr(), "m1", "m1pw")
	if err != nil {
		t.Fatal(err)
	}
	subscribe(t, m1, "mirror/m1/binding", got)

	e := newEnv(t, func(o *hub.Options) { o.Publisher = pub })
	_, ticket := e.upload("P1")
	if _, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_ext", false, wechattest.Safe); err != nil {
		t.Fatal(err)
	}
	e.hub.Deliver(t.Context())
	var b wire.Binding
	if err := json.Unmarshal([]byte(recv(t, got).Payload), &b); err != nil {
		t.Fatalf("binding does not parse as wire.Binding: %v", err)
	}
	if b.PhotoID != "P1" || b.Event != "subscribe" || b.At.IsZero() || time.Since(b.At.Time) > time.Minute {
		t.Errorf("binding = %+v", b)
	}

	// Outage: the scan is answered, the binding kept, and published when the broker is back.
	_, ticket2 := e.upload("P2")
	if err := mq.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket2, "o_ext", true, wechattest.Safe); err != nil {
		t.Fatalf("scan during the outage: %v", err)
	}
	e.hub.Deliver(t.Context())
	if n, _ := e.store.PendingBindings(t.Context(), "m1", time.Now().Add(time.Hour), 10); len(n) != 2 {
		t.Fatalf("%d bindings pending during the outage, want 2 (none acknowledged)", len(n))
	}
	if err := mq.Start(); err != nil {
		t.Fatal(err)
	}
	<-connected // the publisher reconnected
	m1.Disconnect(0)
	m1, got, err = connect(t, mq.Addr(), "m1", "m1pw") // the device comes back too
	if err != nil {
		t.Fatal(err)
	}
	subscribe(t, m1, "mirror/m1/binding", got)
	time.Sleep(2 * time.Second) // past the failed publish's backoff
	e.hub.Deliver(t.Context())
	if err := json.Unmarshal([]byte(recv(t, got).Payload), &b); err != nil || b.PhotoID != "P2" || b.Event != "SCAN" {
		t.Errorf("after the outage: binding %+v (%v), want P2 SCAN", b, err)
	}
}

// mirror is a mirror's fleet client (the real one) with the hub provider as its BindingHub: it
// counts the bindings it hands to the agent.
type mirror struct {
	mu     sync.Mutex
	got    []wire.Binding
	seen   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// startMirror connects device m1 to brokerURL; hubAddr says where the hub is now (it moves
// when the test restarts the hub).
func startMirror(t *testing.T, brokerURL, password, token string, hubAddr func() string) *mirror {
	t.Helper()
	m := &mirror{seen: make(chan struct{}, 16), done: make(chan struct{})}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", hubAddr())
	}
	hc, err := hubclient.New(hubclient.Options{BaseURL: "http://hub.test", Token: token, Photos: noPhotos{},
		HTTPClient: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dial}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := fleet.New(fleet.Options{Broker: brokerURL, DeviceID: "m1", Password: password, Hub: hc,
		ReconnectMin: 200 * time.Millisecond, ReconnectMax: time.Second, KeepAlive: 5 * time.Second,
		Logger: quietLogger(), OnBinding: func(_ context.Context, b wire.Binding) {
			m.mu.Lock()
			m.got = append(m.got, b)
			m.mu.Unlock()
			m.seen <- struct{}{}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { defer close(m.done); c.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !c.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("mirror not connected within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(m.stop)
	return m
}

func (m *mirror) stop() {
	m.cancel()
	<-m.done
}

func (m *mirror) bindings() []wire.Binding {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]wire.Binding(nil), m.got...)
}

// waitBinding waits for the next binding handed to the agent.
func (m *mirror) waitBinding(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-m.seen:
	case <-time.After(within):
		t.Fatalf("no binding reached the mirror within %s", within)
	}
}

type noPhotos struct{}

func (noPhotos) Open(string) (io.ReadSeekCloser, error) { return nil, io.ErrUnexpectedEOF }

// runHub runs the hub's delivery loop until the returned stop is called (or the test ends).
func runHub(t *testing.T, h *hub.Hub) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// acked waits until the hub holds no unacknowledged binding for m1.
func acked(t *testing.T, e *env, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		p, err := e.store.PendingBindings(t.Context(), "m1", time.Now().Add(24*time.Hour), 10)
		if err == nil && len(p) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bindings still unacknowledged after %s (%v)", len(p), within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkOnce checks that the mirror got exactly the photos want, once each, and nothing more
// within a while.
func checkOnce(t *testing.T, m *mirror, want ...string) {
	t.Helper()
	time.Sleep(3 * time.Second) // room for a repeat to show up
	got := m.bindings()
	ids := map[string]int{}
	var photos []string
	for _, b := range got {
		ids[b.BindingID]++
		photos = append(photos, b.PhotoID)
	}
	if len(got) != len(want) {
		t.Fatalf("mirror got bindings for %v, want %v once each", photos, want)
	}
	for i, p := range want {
		if photos[i] != p {
			t.Errorf("mirror got bindings for %v, want %v", photos, want)
		}
	}
}

// The acceptance of answer-first delivery: the hub's broker link stalls (a proxy in front of
// a real mosquitto stops forwarding). WeChat's push is still answered at once with the photo
// reply; the mirror gets the binding exactly once after the link recovers, and acknowledges it.
func TestStalledBrokerAnswerFirst(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{broker.HubUser: "hubpw", "m1": "m1pw"}})
	proxy := mosquittotest.StartProxy(t, mq.Addr())
	pub, err := hub.DialMQTT(t.Context(), hub.MQTTOptions{URL: proxy.URL(), Username: broker.HubUser, Password: "hubpw"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	e := newEnv(t, func(o *hub.Options) { o.Publisher = pub })
	runHub(t, e.hub)
	m := startMirror(t, mq.URL(), "m1pw", e.creds.Token, func() string { return e.srv.Listener.Addr().String() })
	_, ticket := e.upload("P1")

	proxy.Stall()
	start := time.Now()
	res, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_stall", false, wechattest.Safe)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	reply, perr := wechat.ParseMessage(res.Reply)
	if res.Attempts != 1 || took > 4500*time.Millisecond || perr != nil || reply.MsgType != "news" {
		t.Fatalf("push with a stalled broker: %d tries, %v, reply %s (%v); want 1 try within 4.5 s with the news reply", res.Attempts, took, res.Reply, perr)
	}
	select {
	case <-m.seen:
		t.Fatal("the mirror got a binding through a stalled broker")
	case <-time.After(2 * time.Second):
	}
	proxy.Resume()
	m.waitBinding(t, 60*time.Second)
	acked(t, e, 30*time.Second)
	checkOnce(t, m, "P1")
}

// The same across a hub restart: the binding is recorded, the hub stops before delivering it
// (its broker link stalled), and the restarted hub delivers it from the database, once.
func TestBindingSurvivesHubRestart(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{broker.HubUser: "hubpw", "m1": "m1pw"}})
	proxy := mosquittotest.StartProxy(t, mq.Addr())
	pub, err := hub.DialMQTT(t.Context(), hub.MQTTOptions{URL: proxy.URL(), Username: broker.HubUser, Password: "hubpw"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *hub.Options) { o.Publisher = pub })
	stop := runHub(t, e.hub)
	m := startMirror(t, mq.URL(), "m1pw", e.creds.Token, func() string { return e.srv.Listener.Addr().String() })
	_, ticket := e.upload("P1")
	proxy.Stall()
	if res, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_restart", false, wechattest.Safe); err != nil || res.Attempts != 1 {
		t.Fatalf("scan = %+v, %v", res, err)
	}
	stop()
	pub.Close()
	proxy.Close() // the old connection dies with the old hub

	proxy2 := mosquittotest.StartProxy(t, mq.Addr())
	pub2, err := hub.DialMQTT(t.Context(), hub.MQTTOptions{URL: proxy2.URL(), Username: broker.HubUser, Password: "hubpw"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub2.Close()
	e.restart(func(o *hub.Options) { o.Publisher = pub2 })
	runHub(t, e.hub)
	m.waitBinding(t, 60*time.Second)
	acked(t, e, 30*time.Second)
	checkOnce(t, m, "P1")
}

// A mirror that is offline when the shopper scans gets the binding when it comes back, once,
// even when the broker forgot everything meanwhile: here the embedded broker, restarted with
// the hub while the mirror was away.
func TestOfflineMirrorCatchesUp(t *testing.T) {
	e := newEnv(t)
	startEmbedded := func() (*embedbroker.Broker, func()) {
		st, err := sqlite.Open(filepath.Join(e.dir, "hub.db")) // its own handle: e.store changes on restart
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		br, err := embedbroker.New(embedbroker.Options{Listen: "127.0.0.1:0", Store: st, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); br.Run(ctx) }()
		stop := func() { cancel(); <-done }
		t.Cleanup(stop)
		return br, stop
	}
	br, stopBroker := startEmbedded()
	e.restart(func(o *hub.Options) { o.Publisher = br })
	stopHub := runHub(t, e.hub)
	hubAddr := func() string { return e.srv.Listener.Addr().String() }
	m := startMirror(t, "tcp://"+br.Addr(), e.creds.MQTTPassword, e.creds.Token, hubAddr)
	_, ticket := e.upload("P1")
	if _, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_online", false, wechattest.Safe); err != nil {
		t.Fatal(err)
	}
	m.waitBinding(t, 30*time.Second)
	acked(t, e, 30*time.Second)
	m.stop() // the mirror goes away

	_, ticket2 := e.upload("P2")
	if _, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket2, "o_offline", false, wechattest.Safe); err != nil {
		t.Fatal(err)
	}
	e.hub.Deliver(t.Context()) // published to nobody
	stopHub()
	stopBroker()
	br2, _ := startEmbedded()
	e.restart(func(o *hub.Options) { o.Publisher = br2 })
	runHub(t, e.hub)

	m2 := startMirror(t, "tcp://"+br2.Addr(), e.creds.MQTTPassword, e.creds.Token, hubAddr)
	m2.waitBinding(t, 30*time.Second)
	acked(t, e, 30*time.Second)
	checkOnce(t, m2, "P2")
}
