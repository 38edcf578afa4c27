// Package rollout advances software rollouts across the fleet (docs/updates.md): a canary
// first, then batches, each started only when the one before it has finished; a rollout stops
// by itself once more mirrors failed than its threshold allows, and an operator can stop it.
//
// A rollout is one document in the hub's database (hubstore.RolloutStore), changed only by
// compare and swap, so that it survives a hub restart and replicas can all run the engine: a
// batch is marked sent in the database before its commands go out, and of two replicas that
// read the same revision only one writes it.
//
// The engine learns each mirror's outcome from its update.* events (committed, rolled_back,
// refused) and, should an event be missed, from its retained status (its running version). A
// mirror that reports nothing within the rollout's timeout counts as failed.
package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fitmirror/fitmirror/internal/window"
)

// States of a rollout.
const (
	StateRunning = "running"
	StateDone    = "done"    // every mirror committed, failed or was skipped, under the threshold
	StateStopped = "stopped" // by an operator
	StateFailed  = "failed"  // stopped by itself past its failure threshold
)

// States of one mirror in a rollout.
const (
	TargetPending   = "pending"
	TargetSent      = "sent"      // the update command went out
	TargetCommitted = "committed" // it runs the version and proved healthy
	TargetFailed    = "failed"    // rolled back, refused, or no answer in time
	TargetSkipped   = "skipped"   // pinned to another version
)

// Spec is what an operator asks for.
type Spec struct {
	Version string `json:"version"`
	// Which mirrors: a list, a store (group), or every mirror the hub knows.
	Devices []string `json:"devices,omitempty"`
	Group   string   `json:"group,omitempty"`
	All     bool     `json:"all,omitempty"`
	// Canary mirrors go first, alone; then batches of Batch (0 = all the rest at once).
	Canary int `json:"canary"`
	Batch  int `json:"batch"`
	// The rollout stops once more than MaxFailures mirrors failed, or (when MaxFailurePct is
	// set) more than that share of those finished, counted from the first finished batch.
	MaxFailures   int     `json:"max_failures"`
	MaxFailurePct float64 `json:"max_failure_pct,omitempty"`
	// Window ("02:00-05:00", the hub's local time; may wrap past midnight): commands go out
	// only then. "" = any time.
	Window string `json:"window,omitempty"`
	// Timeout is how long a mirror has, from its command, to report an outcome (it may wait
	// for a session to end first); 0 = 2 h.
	Timeout        time.Duration `json:"timeout"`
	AllowDowngrade bool          `json:"allow_downgrade,omitempty"`
}

// Target is one mirror of a rollout.
type Target struct {
	Device string    `json:"device"`
	Wave   int       `json:"wave"` // 0 = canary, 1… = batches
	State  string    `json:"state"`
	From   string    `json:"from,omitempty"` // the version it ran when it was sent the command
	Reason string    `json:"reason,omitempty"`
	SentAt time.Time `json:"sent_at,omitzero"`
	DoneAt time.Time `json:"done_at,omitzero"`
}

// Rollout is a rollout's document.
type Rollout struct {
	ID        string    `json:"id"`
	Spec      Spec      `json:"spec"`
	State     string    `json:"state"`
	Reason    string    `json:"reason,omitempty"`
	Resolved  bool      `json:"resolved"` // the targets are chosen (at the first step)
	Targets   []Target  `json:"targets"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	rev       int64
}

// Counts are how many targets are in each state.
func (r *Rollout) Counts() map[string]int {
	c := map[string]int{}
	for _, t := range r.Targets {
		c[t.State]++
	}
	return c
}

// Check validates a spec, naming the field at fault.
func (s *Spec) Check() error {
	picks := 0
	for _, b := range []bool{len(s.Devices) > 0, s.Group != "", s.All} {
		if b {
			picks++
		}
	}
	switch {
	case s.Version == "":
		return errors.New("version: required")
	case picks != 1:
		return errors.New("choose the mirrors with exactly one of --devices, --group and --all")
	case s.Canary < 0 || s.Batch < 0 || s.MaxFailures < 0:
		return errors.New("--canary, --batch and --max-failures must not be negative")
	case s.MaxFailurePct < 0 || s.MaxFailurePct > 100:
		return fmt.Errorf("--max-failure-pct %v: want 0 to 100", s.MaxFailurePct)
	case s.Timeout < 0:
		return fmt.Errorf("--timeout %s: must not be negative", s.Timeout)
	}
	if _, err := window.Parse(s.Window); err != nil {
		return fmt.Errorf("--window %w", err)
	}
	if d := slices.Clone(s.Devices); len(slices.Compact(slices.Sorted(slices.Values(d)))) != len(s.Devices) {
		return errors.New("--devices: a mirror is named twice")
	}
	return nil
}

func (s *Spec) timeout() time.Duration {
	if s.Timeout == 0 {
		return 2 * time.Hour
	}
	return s.Timeout
}

// inWindow reports whether now (the hub's local time) is inside the spec's window.
func (s *Spec) inWindow(now time.Time) bool {
	w, err := window.Parse(s.Window)
	return err == nil && w.Contains(now.Local())
}

func decode(doc []byte, rev int64) (*Rollout, error) {
	var r Rollout
	if err := json.Unmarshal(doc, &r); err != nil {
		return nil, fmt.Errorf("rollout: stored document: %w", err)
	}
	r.rev = rev
	return &r, nil
}
