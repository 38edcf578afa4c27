package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub"
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
