package hub_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/cloud/hub"
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
	var b wire.Binding
	if err := json.Unmarshal([]byte(recv(t, got).payload), &b); err != nil {
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
	if n, _ := e.store.Unpublished(t.Context(), 10); len(n) != 1 {
		t.Fatalf("%d unpublished bindings during the outage, want 1", len(n))
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
	e.hub.Republish(t.Context())
	if err := json.Unmarshal([]byte(recv(t, got).payload), &b); err != nil || b.PhotoID != "P2" || b.Event != "SCAN" {
		t.Errorf("after the outage: binding %+v (%v), want P2 SCAN", b, err)
	}
	if n, _ := e.store.Unpublished(t.Context(), 10); len(n) != 0 {
		t.Errorf("%d bindings still unpublished", len(n))
	}
}
