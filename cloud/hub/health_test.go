package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres/pgtest"
)

type health struct {
	OK     bool `json:"ok"`
	Checks map[string]struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"checks"`
}

// /healthz says whether the database answers, and whatever else the command checks (the
// broker): 200 when all do, 503 naming the ones that do not, so that a load balancer takes
// the replica out of rotation.
func TestHealthz(t *testing.T) {
	brokerDown := errors.New("broker: connection refused")
	var brokerErr error
	e := newEnv(t, func(o *hub.Options) {
		o.HealthChecks = []hub.HealthCheck{{Name: "broker", Check: func(context.Context) error { return brokerErr }}}
	})
	get := func() (int, health) {
		t.Helper()
		code, body := e.do("GET", "/healthz", "", nil, "")
		var h health
		if err := json.Unmarshal(body, &h); err != nil {
			t.Fatalf("/healthz body %s: %v", body, err)
		}
		return code, h
	}
	if code, h := get(); code != 200 || !h.OK || !h.Checks["database"].OK || !h.Checks["broker"].OK {
		t.Errorf("/healthz = %d %+v, want 200 with database and broker ok", code, h)
	}
	brokerErr = brokerDown
	if code, h := get(); code != 503 || h.OK || !h.Checks["database"].OK || h.Checks["broker"].Error != brokerDown.Error() {
		t.Errorf("/healthz with the broker down = %d %+v, want 503 naming the broker", code, h)
	}
	brokerErr = nil
	e.store.Close() // the database is gone
	if code, h := get(); code != 503 || h.OK || h.Checks["database"].OK || h.Checks["database"].Error == "" {
		t.Errorf("/healthz with the database closed = %d %+v, want 503 naming the database", code, h)
	}
}

// A check that Degrades (the broker, whose bindings wait in the database) keeps the replica in
// rotation: 200 "degraded", naming it.
func TestHealthzDegraded(t *testing.T) {
	var brokerErr error
	e := newEnv(t, func(o *hub.Options) {
		o.HealthChecks = []hub.HealthCheck{{Name: "broker", Degrades: true, Check: func(context.Context) error { return brokerErr }}}
	})
	get := func() (int, string, health) {
		t.Helper()
		code, body := e.do("GET", "/healthz", "", nil, "")
		var h health
		var s struct{ Status string }
		if err := json.Unmarshal(body, &h); err != nil {
			t.Fatalf("/healthz body %s: %v", body, err)
		}
		json.Unmarshal(body, &s)
		return code, s.Status, h
	}
	if code, status, h := get(); code != 200 || status != "ok" || !h.OK || !h.Checks["broker"].OK {
		t.Errorf("/healthz = %d %s %+v, want 200 ok", code, status, h)
	}
	brokerErr = errors.New("not connected to tcp://nats1:1883, tcp://nats2:1883")
	if code, status, h := get(); code != 200 || status != "degraded" || !h.OK || h.Checks["broker"].Error != brokerErr.Error() || !h.Checks["database"].OK {
		t.Errorf("/healthz with the broker down = %d %s %+v, want 200 degraded naming the broker", code, status, h)
	}
	brokerErr = nil
	e.store.Close()
	if code, status, h := get(); code != 503 || status != "down" || h.OK {
		t.Errorf("/healthz with the database closed = %d %s %+v, want 503 down", code, status, h)
	}
}

// A replica on PostgreSQL reports its database: 503 naming it while the server is down (the
// load balancer takes the replica out), 200 again once it is back, without a restart.
func TestHealthzPostgresOutage(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{NoFsync: true})
	st, err := postgres.Open(t.Context(), pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := newEnv(t, func(o *hub.Options) { o.Store, o.Photos = st, st.Blobs() })
	creds, err := hub.AddDevice(t.Context(), st, "m2", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	get := func() (int, health) {
		t.Helper()
		code, body := e.do("GET", "/healthz", "", nil, "")
		var h health
		if err := json.Unmarshal(body, &h); err != nil {
			t.Fatalf("/healthz body %s: %v", body, err)
		}
		return code, h
	}
	if code, h := get(); code != 200 || !h.Checks["database"].OK {
		t.Fatalf("/healthz = %d %+v, want 200 with the database ok", code, h)
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if code, h := get(); code != 503 || h.OK || h.Checks["database"].OK || h.Checks["database"].Error == "" {
		t.Errorf("/healthz with PostgreSQL down = %d %+v, want 503 naming the database", code, h)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, h := get()
		if code == 200 && h.Checks["database"].OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz after PostgreSQL came back = %d %+v, want 200", code, h)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// And the store works again: the device registered before the outage authenticates.
	if code, _ := e.do("GET", "/v1/bindings", "", nil, creds.Token); code != 200 {
		t.Errorf("GET /v1/bindings after the outage = %d, want 200", code)
	}
}
