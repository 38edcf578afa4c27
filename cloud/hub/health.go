package hub

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/internal/httpjson"
)

// HealthCheck is one dependency that /healthz reports on. The hub always checks its database
// ("database", Store.Ping); the command adds others (the broker) through Options.HealthChecks.
type HealthCheck struct {
	Name  string
	Check func(ctx context.Context) error
	// Degrades: a failure of this check makes the answer "degraded" with 200 instead of 503.
	// For a dependency the hub can wait for — the broker: bindings wait in the database and
	// are delivered once it is back — so that a broker outage does not take every replica
	// out of the load balancer while WeChat keeps calling.
	Degrades bool
}

type healthResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// healthz is GET /healthz: 200 {"ok":true,"status":"ok","checks":{"database":{"ok":true},…}}
// when every dependency answers within 2 s; 503 ("down") with the failing ones' errors
// otherwise, so that a load balancer takes a replica that lost its database out of rotation;
// 200 "degraded" when only checks that Degrade failed.
func (h *Hub) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := append([]HealthCheck{{Name: "database", Check: h.opts.Store.Ping}}, h.opts.HealthChecks...)
	res := make(map[string]healthResult, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok, degraded := true, false
	for _, c := range checks {
		wg.Go(func() {
			err := c.Check(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if c.Degrades {
					degraded = true
				} else {
					ok = false
				}
				res[c.Name] = healthResult{Error: err.Error()}
				return
			}
			res[c.Name] = healthResult{OK: true}
		})
	}
	wg.Wait()
	status, state := http.StatusOK, "ok"
	switch {
	case !ok:
		status, state = http.StatusServiceUnavailable, "down"
		h.log.Warn("healthz: unhealthy", "checks", res)
	case degraded:
		state = "degraded"
	}
	httpjson.Write(w, status, map[string]any{"ok": ok, "status": state, "checks": res})
}

// Reachable is implemented by a Publisher that can say whether its broker is reachable now
// (MQTTPublisher); the command turns it into the "broker" check.
type Reachable interface {
	Reachable(ctx context.Context) error
}
