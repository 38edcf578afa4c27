package hub_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
)

// TestBindingsAPILimits: GET /v1/bindings answers at most 100 of the device's unacknowledged
// bindings, oldest first, and POST /v1/bindings/ack takes 1 to 100 IDs (docs/contracts.md §2).
func TestBindingsAPILimits(t *testing.T) {
	e := newEnv(t)
	t0 := time.Now().Add(-time.Hour)
	for i := range 105 {
		id := fmt.Sprintf("B%03d", i)
		ev := hub.Event{Key: "k" + id, BindingID: id, DeviceID: "m1", PhotoID: "P1", User: "u1",
			Payload: []byte(`{"binding_id":"` + id + `"}`), Reply: []byte("<xml/>"), At: t0.Add(time.Duration(i) * time.Second)}
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
