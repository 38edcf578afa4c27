package fleet

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// onBinding hands a binding to the agent once per binding_id.
func (c *Client) onBinding(ctx context.Context, payload []byte) {
	var b wire.Binding
	if err := json.Unmarshal(payload, &b); err != nil {
		c.log.Warn("bad binding ignored", "err", err)
		return
	}
	if b.BindingID == "" || b.PhotoID == "" {
		c.log.Warn("binding without binding_id or photo_id ignored", "payload", string(payload))
		return
	}
	if !c.bindings.add(b.BindingID) {
		c.log.Info("repeated binding ignored", "binding_id", b.BindingID)
		return
	}
	if c.opts.OnBinding != nil {
		c.opts.OnBinding(ctx, b)
	}
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
