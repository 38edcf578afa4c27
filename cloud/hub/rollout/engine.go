package rollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/internal/debpkg"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// Publisher sends MQTT messages (the hub's publisher).
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// Mirror is what the hub knows of a mirror from its retained status.
type Mirror struct {
	State         string // online, degraded, offline
	Version       string
	TargetVersion string
	Arch          string // "" when the mirror does not say
}

// Fleet is what the engine asks about the mirrors.
type Fleet interface {
	// Mirrors returns every mirror the hub has heard from.
	Mirrors(ctx context.Context) (map[string]Mirror, error)
	// Groups maps mirrors placed in a store (group) to it.
	Groups(ctx context.Context) (map[string]string, error)
}

// Engine starts, advances and stops rollouts.
type Engine struct {
	Store       hubstore.RolloutStore
	Releases    hubstore.ReleaseStore
	Publisher   Publisher        // nil: commands cannot be sent (the CLI's engine)
	Fleet       Fleet            // nil: no mirror is known (the CLI's engine)
	TopicPrefix string           // "" = "mirror"
	Now         func() time.Time // nil = time.Now
	Log         *slog.Logger     // nil = slog.Default()
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// Start checks the spec and stores a new running rollout; the serving hub advances it.
func (e *Engine) Start(ctx context.Context, s Spec) (*Rollout, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	if err := debpkg.ValidVersion(s.Version); err != nil {
		return nil, err
	}
	rels, err := e.Releases.Releases(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(rels, func(r hubstore.Release) bool { return r.Version == s.Version }) {
		return nil, fmt.Errorf("no release %s: add it first with mirror-cloud release add", s.Version)
	}
	b := make([]byte, 6)
	rand.Read(b)
	now := e.now()
	r := &Rollout{ID: "r-" + now.Format("20060102") + "-" + hex.EncodeToString(b), Spec: s, State: StateRunning, CreatedAt: now, UpdatedAt: now}
	doc, _ := json.Marshal(r)
	if err := e.Store.CreateRollout(ctx, hubstore.StoredRollout{ID: r.ID, State: r.State, Doc: doc, CreatedAt: now}); err != nil {
		return nil, err
	}
	return r, nil
}

// Get returns a rollout.
func (e *Engine) Get(ctx context.Context, id string) (*Rollout, error) {
	st, err := e.Store.Rollout(ctx, id)
	if errors.Is(err, hubstore.ErrNotFound) {
		return nil, fmt.Errorf("no rollout %s (mirror-cloud rollout status lists them)", id)
	}
	if err != nil {
		return nil, err
	}
	return decode(st.Doc, st.Rev)
}

// List returns the rollouts, newest first.
func (e *Engine) List(ctx context.Context) ([]*Rollout, error) {
	list, err := e.Store.Rollouts(ctx, false)
	if err != nil {
		return nil, err
	}
	var out []*Rollout
	for _, st := range list {
		r, err := decode(st.Doc, st.Rev)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Stop stops a running rollout (an emergency stop): no further command goes out. Mirrors
// already updating finish, or roll back, on their own.
func (e *Engine) Stop(ctx context.Context, id, reason string) (*Rollout, error) {
	return e.change(ctx, id, func(r *Rollout) (bool, error) {
		if r.State != StateRunning {
			return false, fmt.Errorf("rollout %s is %s already", id, r.State)
		}
		r.State, r.Reason = StateStopped, reason
		return true, nil
	})
}

// change applies fn to the rollout and stores it, reading it again when another replica wrote
// it in between. fn returns whether it changed anything.
func (e *Engine) change(ctx context.Context, id string, fn func(*Rollout) (bool, error)) (*Rollout, error) {
	for attempt := 0; ; attempt++ {
		r, err := e.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		changed, err := fn(r)
		if err != nil || !changed {
			return r, err
		}
		r.UpdatedAt = e.now()
		doc, _ := json.Marshal(r)
		rev, err := e.Store.UpdateRollout(ctx, hubstore.StoredRollout{ID: r.ID, State: r.State, Doc: doc, Rev: r.rev})
		if errors.Is(err, hubstore.ErrConflict) && attempt < 20 {
			continue
		}
		if err != nil {
			return nil, err
		}
		r.rev = rev
		return r, nil
	}
}

// Observe takes an update.* event of a mirror: the outcome of its update.
func (e *Engine) Observe(ctx context.Context, device string, ev wire.Event) {
	var state string
	switch ev.Type {
	case wire.EventUpdateCommitted:
		state = TargetCommitted
	case wire.EventUpdateRolledBack, wire.EventUpdateRefused:
		state = TargetFailed
	default:
		return
	}
	var u wire.Update
	if json.Unmarshal(ev.Data, &u) != nil {
		return
	}
	running, err := e.Store.Rollouts(ctx, true)
	if err != nil {
		e.log().Warn("rollout: outcome not recorded", "device", device, "err", err)
		return
	}
	for _, st := range running {
		_, err := e.change(ctx, st.ID, func(r *Rollout) (bool, error) {
			i := slices.IndexFunc(r.Targets, func(t Target) bool { return t.Device == device })
			if i < 0 || r.Spec.Version != u.Version || (r.Targets[i].State != TargetSent && r.Targets[i].State != TargetPending) {
				return false, nil
			}
			reason := u.Reason
			if state == TargetFailed && reason == "" {
				reason = ev.Type
			}
			r.Targets[i].State, r.Targets[i].Reason, r.Targets[i].DoneAt = state, reason, e.now()
			return true, nil
		})
		if err != nil {
			e.log().Warn("rollout: outcome not recorded", "rollout", st.ID, "device", device, "err", err)
		}
	}
}

// Step advances every running rollout once: it resolves the targets, marks outcomes seen in
// the mirrors' status and the timeouts, stops a rollout past its threshold, and sends the next
// batch when the one before it has finished.
func (e *Engine) Step(ctx context.Context) error {
	running, err := e.Store.Rollouts(ctx, true)
	if err != nil {
		return err
	}
	var mirrors map[string]Mirror
	if e.Fleet != nil {
		if mirrors, err = e.Fleet.Mirrors(ctx); err != nil {
			return err
		}
	}
	var errs []error
	for _, st := range running {
		if err := e.stepOne(ctx, st.ID, mirrors); err != nil {
			errs = append(errs, fmt.Errorf("rollout %s: %w", st.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) stepOne(ctx context.Context, id string, mirrors map[string]Mirror) error {
	var send []Target
	r, err := e.change(ctx, id, func(r *Rollout) (bool, error) {
		changed := false
		if !r.Resolved {
			if err := e.resolve(ctx, r, mirrors); err != nil {
				return false, err
			}
			changed = true
		}
		if e.observeStatus(r, mirrors) {
			changed = true
		}
		if e.judge(r) {
			return true, nil
		}
		send = e.nextBatch(r, mirrors)
		return changed || len(send) > 0, nil
	})
	if err != nil || len(send) == 0 {
		return err
	}
	var failed []string
	for _, t := range send {
		if err := e.sendUpdate(ctx, r, t, mirrors[t.Device]); err != nil {
			e.log().Warn("rollout: update command not sent; trying again at the next step", "rollout", id, "device", t.Device, "err", err)
			failed = append(failed, t.Device)
		}
	}
	if len(failed) > 0 { // back to pending, so the next step sends them again
		_, err = e.change(ctx, id, func(r *Rollout) (bool, error) {
			for i := range r.Targets {
				if slices.Contains(failed, r.Targets[i].Device) && r.Targets[i].State == TargetSent {
					r.Targets[i].State, r.Targets[i].SentAt = TargetPending, time.Time{}
				}
			}
			return true, nil
		})
	}
	return err
}

// resolve chooses the targets and their waves, and skips mirrors pinned to another version.
func (e *Engine) resolve(ctx context.Context, r *Rollout, mirrors map[string]Mirror) error {
	var ids []string
	switch {
	case len(r.Spec.Devices) > 0:
		ids = slices.Clone(r.Spec.Devices)
	case r.Spec.Group != "":
		if e.Fleet == nil {
			return errors.New("no fleet to resolve a group")
		}
		groups, err := e.Fleet.Groups(ctx)
		if err != nil {
			return err
		}
		for id, g := range groups {
			if g == r.Spec.Group {
				ids = append(ids, id)
			}
		}
	default:
		for id := range mirrors {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	pins, err := e.Store.Pins(ctx)
	if err != nil {
		return err
	}
	r.Targets = r.Targets[:0]
	wave, inWave := 0, 0
	for _, id := range ids {
		t := Target{Device: id, State: TargetPending}
		if p, ok := pins[id]; ok && p != r.Spec.Version {
			t.State, t.Reason = TargetSkipped, "pinned to "+p
			r.Targets = append(r.Targets, t)
			continue
		}
		switch {
		case wave == 0 && inWave >= r.Spec.Canary:
			wave, inWave = 1, 0
		case wave > 0 && r.Spec.Batch > 0 && inWave >= r.Spec.Batch:
			wave, inWave = wave+1, 0
		}
		t.Wave = wave
		inWave++
		r.Targets = append(r.Targets, t)
	}
	r.Resolved = true
	if len(ids) == 0 {
		r.State, r.Reason = StateDone, "no mirror matched"
	}
	return nil
}

// observeStatus marks targets whose status shows the outcome (an event that was missed),
// and those that timed out.
func (e *Engine) observeStatus(r *Rollout, mirrors map[string]Mirror) bool {
	changed := false
	now := e.now()
	for i := range r.Targets {
		t := &r.Targets[i]
		if t.State != TargetSent {
			continue
		}
		m, ok := mirrors[t.Device]
		switch {
		case ok && m.Version == r.Spec.Version && m.TargetVersion == "" && m.State != "offline":
			t.State, t.DoneAt, t.Reason = TargetCommitted, now, "runs "+m.Version
		case now.Sub(t.SentAt) > r.Spec.timeout():
			t.State, t.DoneAt, t.Reason = TargetFailed, now, "no outcome within "+r.Spec.timeout().String()
		default:
			continue
		}
		changed = true
	}
	return changed
}

// judge stops the rollout past its failure threshold, or ends it when nothing is left to do.
// It reports whether it changed the rollout's state.
func (e *Engine) judge(r *Rollout) bool {
	c := r.Counts()
	finished := c[TargetCommitted] + c[TargetFailed]
	switch {
	case c[TargetFailed] > r.Spec.MaxFailures && r.Spec.MaxFailurePct == 0:
		r.State = StateFailed
		r.Reason = fmt.Sprintf("stopped by itself: %d mirrors failed, more than the %d allowed", c[TargetFailed], r.Spec.MaxFailures)
	case r.Spec.MaxFailurePct > 0 && finished > 0 && float64(c[TargetFailed])*100/float64(finished) > r.Spec.MaxFailurePct:
		r.State = StateFailed
		r.Reason = fmt.Sprintf("stopped by itself: %d of %d finished mirrors failed, more than %.1f%%", c[TargetFailed], finished, r.Spec.MaxFailurePct)
	case c[TargetPending] == 0 && c[TargetSent] == 0:
		r.State, r.Reason = StateDone, fmt.Sprintf("%d committed, %d failed, %d skipped", c[TargetCommitted], c[TargetFailed], c[TargetSkipped])
	default:
		return false
	}
	return true
}

// nextBatch marks the pending mirrors of the lowest unfinished wave sent and returns them,
// once every mirror of the waves before it has finished, and inside the window.
func (e *Engine) nextBatch(r *Rollout, mirrors map[string]Mirror) []Target {
	if e.Publisher == nil || !r.Spec.inWindow(e.now()) {
		return nil
	}
	wave := -1
	for _, t := range r.Targets {
		if (t.State == TargetPending || t.State == TargetSent) && (wave < 0 || t.Wave < wave) {
			wave = t.Wave
		}
	}
	var send []Target
	for i := range r.Targets {
		t := &r.Targets[i]
		if t.Wave != wave {
			continue
		}
		if t.State == TargetSent {
			return nil // the wave is under way
		}
		if t.State == TargetPending {
			t.State, t.SentAt, t.From = TargetSent, e.now(), mirrors[t.Device].Version
			send = append(send, *t)
		}
	}
	return send
}

// sendUpdate publishes the update command for one mirror.
func (e *Engine) sendUpdate(ctx context.Context, r *Rollout, t Target, m Mirror) error {
	var match []hubstore.Release
	if m.Arch != "" { // the common case: one lookup
		for _, arch := range []string{m.Arch, "all"} {
			if rel, err := e.Releases.Release(ctx, r.Spec.Version, arch); err == nil {
				match = append(match, rel)
				break
			} else if !errors.Is(err, hubstore.ErrNotFound) {
				return err
			}
		}
	} else { // a mirror that names no architecture: only an unambiguous release will do
		rels, err := e.Releases.Releases(ctx)
		if err != nil {
			return err
		}
		for _, rel := range rels {
			if rel.Version == r.Spec.Version {
				match = append(match, rel)
			}
		}
	}
	if len(match) != 1 {
		return fmt.Errorf("release %s for architecture %q: %d match (the mirror's status names no architecture, or none is stored)", r.Spec.Version, m.Arch, len(match))
	}
	rel := match[0]
	args, _ := json.Marshal(wire.UpdateArgs{Version: rel.Version, URL: wire.ReleasePath(rel.Version, rel.Arch),
		SHA256: rel.SHA256, Size: rel.Size, Signature: rel.Signature, AllowDowngrade: r.Spec.AllowDowngrade})
	payload, _ := json.Marshal(map[string]any{"id": r.ID + "-" + t.Device, "args": json.RawMessage(args)})
	prefix := e.TopicPrefix
	if prefix == "" {
		prefix = "mirror"
	}
	return e.Publisher.Publish(ctx, prefix+"/"+t.Device+"/cmd/"+wire.CmdUpdate, payload)
}
