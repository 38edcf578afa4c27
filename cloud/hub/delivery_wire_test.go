package hub_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// TestDeliveryPublishesWireBindings: what the delivery loop publishes and GET /v1/bindings
// lists is a wire.Binding in the contract's format whatever bytes the store holds (here a
// binding stored with a zoned, whole-second time), and a stored message that is not the
// binding it is recorded as is neither published nor listed.
func TestDeliveryPublishesWireBindings(t *testing.T) {
	e := newEnv(t)
	at := time.Now().Add(-time.Minute)
	for _, ev := range []hub.Event{
		{Key: "k1", BindingID: "B1", DeviceID: "m1", PhotoID: "P1", User: "u1", Reply: []byte("<xml/>"), At: at,
			Payload: []byte(`{"user":"u1","at":"2026-11-20T18:00:00+08:00","binding_id":"B1","photo_id":"P1","scene":"S1","event":"SCAN"}`)},
		{Key: "k2", BindingID: "B2", DeviceID: "m1", PhotoID: "P2", User: "u1", Reply: []byte("<xml/>"), At: at.Add(time.Second),
			Payload: []byte(`{"binding_id":"B9","photo_id":"P9"}`)},
		{Key: "k3", BindingID: "B3", DeviceID: "m1", PhotoID: "P3", User: "u1", Reply: []byte("<xml/>"), At: at.Add(2 * time.Second),
			Payload: []byte(`not json`)},
	} {
		if _, _, err := e.store.RecordEvent(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	want := `{"binding_id":"B1","photo_id":"P1","scene":"S1","event":"SCAN","user":"u1","at":"2026-11-20T10:00:00.000Z"}`

	e.hub.Deliver(t.Context())
	var got []string
	for _, m := range e.pub.all() {
		got = append(got, m.Topic+" "+string(m.Payload))
	}
	if len(got) != 1 || got[0] != "mirror/m1/binding "+want {
		t.Errorf("published %q, want only %s on mirror/m1/binding", got, want)
	}

	code, body := e.do(http.MethodGet, "/v1/bindings", "", nil, e.creds.Token)
	var pending wire.PendingBindings
	if err := json.Unmarshal(body, &pending); code != http.StatusOK || err != nil {
		t.Fatalf("GET /v1/bindings = %d %s: %v", code, body, err)
	}
	if len(pending.Bindings) != 1 {
		t.Fatalf("GET /v1/bindings = %s, want B1 only", body)
	}
	if b, _ := json.Marshal(pending.Bindings[0]); string(b) != want {
		t.Errorf("GET /v1/bindings lists %s, want %s", b, want)
	}
	if wantBody := `{"bindings":[` + want + `]}` + "\n"; string(body) != wantBody {
		t.Errorf("GET /v1/bindings = %q, want %q", body, wantBody)
	}
}
