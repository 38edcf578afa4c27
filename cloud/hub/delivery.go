package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fitmirror/fitmirror/internal/backoff"
	"github.com/fitmirror/fitmirror/internal/httpjson"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// Delivery of bindings to the mirrors. The callback records a binding and answers WeChat at
// once; the delivery loop publishes it from the store, and publishes it again until the mirror
// acknowledges it (POST /v1/bindings/ack). A mirror that comes back also asks for what it
// missed (GET /v1/bindings). The mirror drops repeats by binding_id, so it acts on each
// binding exactly once however often it arrives.
const (
	// publishTimeout bounds one publish: a stalled broker holds up the loop no longer.
	publishTimeout = 10 * time.Second
	// deliverBatch is how many due bindings one round takes.
	deliverBatch = 100
	// deliverParallel bounds the publishes of one round in flight at once.
	deliverParallel = 32
	// maxAckIDs bounds one acknowledgement request.
	maxAckIDs = wire.MaxAckBindings
	// claimLease is how long a replica holds the bindings of a round it is publishing (a
	// round of stalled publishes takes deliverBatch/deliverParallel publish timeouts): if it
	// dies before recording the attempts, another replica publishes them after this.
	claimLease = publishTimeout*(deliverBatch/deliverParallel+1) + 5*time.Second
)

var (
	// retryFailed spaces publishes that failed (broker down or stalled): 1 s doubling to 30 s.
	retryFailed = backoff.Backoff{Min: time.Second, Max: 30 * time.Second, Jitter: 0.2}
	// retryUnacked spaces publishes the broker took but the mirror has not acknowledged (it
	// is offline, or it missed the message): 15 s doubling to 10 minutes.
	retryUnacked = backoff.Backoff{Min: 15 * time.Second, Max: 10 * time.Minute, Jitter: 0.2}
)

// kick wakes the delivery loop.
func (h *Hub) kick() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// deliverLoop delivers due bindings when kicked (a new binding) and every second.
func (h *Hub) deliverLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if h.deliver(ctx) { // a full round: more are due, go on at once
			if ctx.Err() != nil {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		case <-t.C:
		}
	}
}

// Deliver publishes the bindings that are due: new ones, failed ones after their backoff,
// unacknowledged ones again; each claimed, so that one replica publishes each attempt. A
// failed publish backs off by itself. Run calls it; tests call it to step the loop.
func (h *Hub) Deliver(ctx context.Context) { h.deliver(ctx) }

// deliver runs one round and reports whether it was full and went well (more may be due).
func (h *Hub) deliver(ctx context.Context) (more bool) {
	h.deliverMu.Lock()
	defer h.deliverMu.Unlock()
	// Replicas share the store: each binding's attempt goes to the replica that claims it.
	evs, err := h.opts.Store.ClaimDue(ctx, h.now(), h.now().Add(claimLease), deliverBatch)
	if err != nil {
		h.log.Warn("hub: claim due bindings", "err", err)
		return false
	}
	// Several at once, so that their marks share commits (group commit) and a burst of scans
	// is delivered as fast as it is recorded. Each claimed binding gets its attempt; a failed
	// one backs off by itself.
	var failed atomic.Bool
	var wg sync.WaitGroup
	slots := make(chan struct{}, deliverParallel)
	for _, e := range evs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if !h.publish(ctx, e) {
				failed.Store(true)
			}
		})
	}
	wg.Wait()
	return len(evs) == deliverBatch && !failed.Load()
}

// binding is the mirror/{id}/binding message of a stored event (docs/contracts.md §1).
func binding(e Event) (wire.Binding, error) {
	var b wire.Binding
	if err := json.Unmarshal(e.Payload, &b); err != nil {
		return b, fmt.Errorf("stored binding %s is not a binding message: %w", e.BindingID, err)
	}
	if b.BindingID != e.BindingID || b.PhotoID != e.PhotoID {
		return b, fmt.Errorf("stored binding %s: its message is for binding %q, photo %q (want photo %q)", e.BindingID, b.BindingID, b.PhotoID, e.PhotoID)
	}
	return b, nil
}

// publish sends one binding and schedules its next try.
func (h *Hub) publish(ctx context.Context, e Event) bool {
	topic := wire.Topics{Prefix: h.prefix, Device: e.DeviceID}.Binding()
	b, err := binding(e)
	if err == nil {
		var payload []byte
		payload, err = json.Marshal(b)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, publishTimeout)
			err = h.opts.Publisher.Publish(pctx, topic, payload)
			cancel()
		}
	}
	next := h.now().Add(retryUnacked.Delay(e.Attempts))
	if err != nil {
		h.metrics.publishErrors.Inc()
		h.log.Warn("hub: publish binding", "topic", topic, "binding_id", e.BindingID, "attempt", e.Attempts+1, "err", err)
		next = h.now().Add(retryFailed.Delay(e.Attempts))
	} else {
		h.metrics.bindings.Inc()
		if e.Attempts > 0 {
			h.log.Info("binding published again (not acknowledged yet)", "binding_id", e.BindingID, "device", e.DeviceID, "attempt", e.Attempts+1)
		}
	}
	if ctx.Err() != nil {
		return false
	}
	if merr := h.opts.Store.MarkSent(ctx, e.Key, err == nil, next); merr != nil {
		h.log.Warn("hub: mark binding sent", "binding_id", e.BindingID, "err", merr)
		return false
	}
	return err == nil
}

// getBindings is GET /v1/bindings: the device's bindings it has not acknowledged, oldest
// first, as {"bindings":[…]} (each the mirror/{id}/binding payload).
func (h *Hub) getBindings(w http.ResponseWriter, r *http.Request) {
	d, ok := h.authDevice(w, r)
	if !ok {
		return
	}
	evs, err := h.opts.Store.PendingBindings(r.Context(), d.ID, h.now().Add(100*365*24*time.Hour), deliverBatch)
	if err != nil {
		h.log.Error("hub: pending bindings", "device", d.ID, "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "bindings unavailable")
		return
	}
	out := wire.PendingBindings{Bindings: []wire.Binding{}}
	for _, e := range evs {
		b, err := binding(e)
		if err != nil {
			h.log.Error("hub: pending bindings", "device", d.ID, "err", err)
			continue
		}
		out.Bindings = append(out.Bindings, b)
	}
	httpjson.Write(w, http.StatusOK, out)
}

// ackBindings is POST /v1/bindings/ack {"binding_ids":[…]} → {"acked":n}: the mirror has the
// bindings; the hub stops delivering them. Repeats and unknown IDs are fine (acked counts
// only the ones this call changed).
func (h *Hub) ackBindings(w http.ResponseWriter, r *http.Request) {
	d, ok := h.authDevice(w, r)
	if !ok {
		return
	}
	var req wire.AckRequest
	if !httpjson.Decode(w, r, 16<<10, &req) {
		return
	}
	if len(req.BindingIDs) == 0 || len(req.BindingIDs) > maxAckIDs {
		httpjson.Error(w, http.StatusBadRequest, wire.CodeBadRequest, fmt.Sprintf("binding_ids: want 1-%d IDs, got %d", maxAckIDs, len(req.BindingIDs)))
		return
	}
	n, err := h.opts.Store.AckBindings(r.Context(), d.ID, req.BindingIDs)
	if err != nil {
		h.log.Error("hub: ack bindings", "device", d.ID, "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "cannot record the acknowledgement")
		return
	}
	h.metrics.acked.Add(float64(n))
	httpjson.Write(w, http.StatusOK, wire.AckResult{Acked: n})
}
