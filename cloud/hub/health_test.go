package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub"
)

// reachPub is a Publisher that can say whether its broker is reachable.
type reachPub struct {
	*recorder
	mu  sync.Mutex
	err error
}

func (p *reachPub) Reachable(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *reachPub) set(err error) {
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
}

// TestHealthz: /healthz names each dependency; a broker that is down makes the replica
// degraded (200: bindings wait in the store), a critical check that fails makes it down (503,
// for the load balancer).
func TestHealthz(t *testing.T) {
	pub := &reachPub{recorder: &recorder{}}
	var dbErr error
	var mu sync.Mutex
	e := newEnv(t, func(o *hub.Options) {
		o.Publisher = pub
		o.Health = []hub.HealthCheck{{Name: "database", Critical: true, Check: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			return dbErr
		}}}
	})
	type check struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	get := func() (int, bool, string, map[string]check) {
		t.Helper()
		code, body := e.do("GET", "/healthz", "", nil, "")
		var r struct {
			OK     bool             `json:"ok"`
			Status string           `json:"status"`
			Checks map[string]check `json:"checks"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("/healthz body %q: %v", body, err)
		}
		return code, r.OK, r.Status, r.Checks
	}
	if code, ok, status, checks := get(); code != 200 || !ok || status != "ok" || !checks["broker"].OK || !checks["database"].OK {
		t.Errorf("all up: %d ok=%v %s %+v, want 200 ok with broker and database ok", code, ok, status, checks)
	}
	pub.set(errors.New("not connected to tcp://nats1:1883"))
	if code, ok, status, checks := get(); code != 200 || !ok || status != "degraded" || checks["broker"].Error != "not connected to tcp://nats1:1883" {
		t.Errorf("broker down: %d ok=%v %s %+v, want 200 degraded naming the broker", code, ok, status, checks)
	}
	mu.Lock()
	dbErr = errors.New("connection refused")
	mu.Unlock()
	if code, ok, status, checks := get(); code != 503 || ok || status != "down" || checks["database"].Error != "connection refused" {
		t.Errorf("database down: %d ok=%v %s %+v, want 503 down", code, ok, status, checks)
	}
}
