package hub

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// HealthCheck is one dependency /healthz reports on.
type HealthCheck struct {
	Name string
	// Check returns nil when the dependency is reachable.
	Check func(ctx context.Context) error
	// Critical: the replica cannot serve without it (a load balancer should take it out of
	// rotation: /healthz answers 503). A failed check that is not critical makes the answer
	// "degraded" with 200: the broker, for one, since bindings wait in the store for it.
	Critical bool
}

// Reachable is implemented by a Publisher that can say whether its broker is reachable now.
type Reachable interface {
	Reachable(ctx context.Context) error
}

// healthResponse is the body of /healthz.
type healthResponse struct {
	OK     bool                   `json:"ok"`     // no critical check failed
	Status string                 `json:"status"` // ok, degraded (a non-critical check failed) or down
	Checks map[string]healthCheck `json:"checks,omitempty"`
}

type healthCheck struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// checks are the hub's health checks: the broker (when the Publisher can tell), then
// Options.Health.
func (h *Hub) checks() []HealthCheck {
	var cs []HealthCheck
	if r, ok := h.opts.Publisher.(Reachable); ok {
		cs = append(cs, HealthCheck{Name: "broker", Check: r.Reachable})
	}
	return append(cs, h.opts.Health...)
}

// healthz answers GET /healthz: each check with a 2 s limit.
func (h *Hub) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	res := healthResponse{OK: true, Status: "ok", Checks: map[string]healthCheck{}}
	for _, c := range h.checks() {
		err := c.Check(ctx)
		if err == nil {
			res.Checks[c.Name] = healthCheck{OK: true}
			continue
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = errors.New("no answer within 2s")
		}
		res.Checks[c.Name] = healthCheck{Error: err.Error()}
		if c.Critical {
			res.OK, res.Status = false, "down"
		} else if res.OK {
			res.Status = "degraded"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !res.OK {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(res)
}
