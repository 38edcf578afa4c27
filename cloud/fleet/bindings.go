package fleet

import (
	"context"
	"encoding/json"
	"sync"

	"time"

	"github.com/fitmirror/fitmirror/internal/wire"

	"github.com/fitmirror/fitmirror/internal/backoff"
)

// BindingHub is the hub's HTTP side of bindings (hubclient.Provider implements it). With it,
// the client asks the hub for the bindings it missed after every (re)connection, and
// acknowledges every binding it receives so that the hub stops delivering it.
type BindingHub interface {
	// PendingBindings returns the device's bindings the hub has no acknowledgement for,
	// oldest first (at most a page of them).
	PendingBindings(ctx context.Context) ([]wire.Binding, error)
	// AckBindings tells the hub the device has these bindings.
	AckBindings(ctx context.Context, ids []string) error
}

// Acknowledgements are sent in batches of at most ackBatch, retried with backoff while the
// hub is unreachable; at most maxAcks wait (the hub delivers an unacknowledged binding again,
// and it is acknowledged then).
const (
	ackBatch   = 100
	maxAcks    = 4096
	hubTimeout = 15 * time.Second
)

// onBinding handles a binding message from the broker.
func (c *Client) onBinding(ctx context.Context, payload []byte) {
	var b wire.Binding
	if err := json.Unmarshal(payload, &b); err != nil {
		c.log.Warn("bad binding ignored", "err", err)
		return
	}
	c.takeBinding(ctx, b, "mqtt")
}

// takeBinding hands a binding to the agent once per binding_id and acknowledges it (again,
// for a repeat: the hub delivers until it has the acknowledgement).
func (c *Client) takeBinding(ctx context.Context, b wire.Binding, via string) {
	if b.BindingID == "" || b.PhotoID == "" {
		c.log.Warn("binding without binding_id or photo_id ignored", "via", via)
		return
	}
	if !c.bindings.add(b.BindingID) {
		c.log.Debug("repeated binding ignored", "binding_id", b.BindingID, "via", via)
	} else if c.opts.OnBinding != nil {
		c.log.Info("binding received", "binding_id", b.BindingID, "photo_id", b.PhotoID, "via", via)
		c.opts.OnBinding(ctx, b)
	}
	if c.opts.Hub != nil {
		select {
		case c.acks <- b.BindingID:
		default: // the hub delivers it again; it is acknowledged then
		}
	}
}

// requestCatchUp asks the binding loop to fetch what the hub holds for the device.
func (c *Client) requestCatchUp() {
	select {
	case c.catchUp <- struct{}{}:
	default:
	}
}

// bindingLoop fetches missed bindings when asked (each connection) and sends the
// acknowledgements, until ctx ends.
func (c *Client) bindingLoop(ctx context.Context) {
	if c.opts.Hub == nil {
		return
	}
	var pending []string
	queued := map[string]bool{}
	add := func(id string) {
		if !queued[id] && len(pending) < maxAcks {
			queued[id] = true
			pending = append(pending, id)
		}
	}
	retry := backoff.Backoff{Min: time.Second, Max: time.Minute, Rand: c.opts.Rand}
	var wait <-chan time.Time
	more := false // a full page of missed bindings: ask again once acknowledged
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-c.acks:
			add(id)
		case <-c.catchUp:
			more = c.fetchMissed(ctx)
		case <-wait:
			wait = nil
		}
		for queuedMore := true; queuedMore; { // take what else is queued
			select {
			case id := <-c.acks:
				add(id)
			default:
				queuedMore = false
			}
		}
		for len(pending) > 0 && wait == nil {
			n := min(len(pending), ackBatch)
			actx, cancel := context.WithTimeout(ctx, hubTimeout)
			err := c.opts.Hub.AckBindings(actx, pending[:n])
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				d := retry.Next()
				c.log.Warn("bindings not acknowledged to the hub", "count", len(pending), "err", err, "retry_in", d.Round(time.Millisecond))
				wait = time.After(d)
				break
			}
			retry.Reset()
			for _, id := range pending[:n] {
				delete(queued, id)
			}
			pending = pending[n:]
		}
		if more && len(pending) == 0 {
			more = false
			c.requestCatchUp()
		}
	}
}

// fetchMissed asks the hub for the bindings it has no acknowledgement for and takes them
// (their acknowledgements queue up). It reports whether the page was full: there may be more
// once these are acknowledged.
func (c *Client) fetchMissed(ctx context.Context) (full bool) {
	fctx, cancel := context.WithTimeout(ctx, hubTimeout)
	bs, err := c.opts.Hub.PendingBindings(fctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("missed bindings not fetched from the hub (it delivers them again)", "err", err)
		}
		return false
	}
	for _, b := range bs {
		c.takeBinding(ctx, b, "hub")
	}
	return len(bs) >= ackBatch
}

// seenSet remembers the last max keys.
type seenSet struct {
	mu   sync.Mutex
	max  int
	m    map[string]struct{}
	ring []string
	next int
}

func newSeenSet(max int) *seenSet {
	return &seenSet{max: max, m: make(map[string]struct{}, max), ring: make([]string, 0, max)}
}

// add reports whether key is new, remembering it (and forgetting the oldest beyond max).
func (s *seenSet) add(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; ok {
		return false
	}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, key)
	} else {
		delete(s.m, s.ring[s.next])
		s.ring[s.next] = key
		s.next = (s.next + 1) % s.max
	}
	s.m[key] = struct{}{}
	return true
}

func (s *seenSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
