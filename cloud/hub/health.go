package hub

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// HealthCheck is one dependency that /healthz reports on. The hub always checks its database
// ("database", Store.Ping); the command adds others (the broker) through Options.HealthChecks.
type HealthCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

type healthResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// healthz is GET /healthz: 200 {"ok":true,"checks":{"database":{"ok":true},…}} when every
// dependency answers within 2 s, 503 with the failing ones' errors otherwise, so that a load
// balancer takes a replica that lost its database out of rotation.
func (h *Hub) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := append([]HealthCheck{{Name: "database", Check: h.opts.Store.Ping}}, h.opts.HealthChecks...)
	res := make(map[string]healthResult, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok := true
	for _, c := range checks {
		wg.Go(func() {
			err := c.Check(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ok = false
				res[c.Name] = healthResult{Error: err.Error()}
				return
			}
			res[c.Name] = healthResult{OK: true}
		})
	}
	wg.Wait()
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
		h.log.Warn("healthz: unhealthy", "checks", res)
	}
	writeJSON(w, status, map[string]any{"ok": ok, "checks": res})
}
