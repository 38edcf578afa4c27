// Package recorder is the mirror's one event path. Every event, whatever its source (the
// session engine, the janitor, the camera, the hardware, fleet commands), is recorded by a
// [Recorder]: durable first — the photo index and the fleet's outbox in one SQLite
// transaction ([store.DB.Append]) — and then the followers (the camera LED, the photo page,
// the status screen), in the order they were added.
//
// A full disk does not cost the session's own events. The recorder keeps a reserve file in
// the state directory; when an append of session.opened, session.closed or photo.purged fails
// for want of space, it gives the reserve back to the filesystem and appends again. Until
// the reserve can be made again, only those events are written (into the freed space and the
// write-ahead log's own frames, which a checkpoint lets SQLite reuse); any other event that cannot
// be recorded is counted, and once recording works again one outbox.failed event says how
// many were lost, since when and why. Meanwhile the storage part of the health is failing.
package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fitmirror/fitmirror/internal/health"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/store"
)

// DefaultReserveBytes is the reserve's size: at about 1 KiB per event with its index rows and
// WAL frames, some thousand session events.
const DefaultReserveBytes = 4 << 20

// Options configure a Recorder.
type Options struct {
	DB *store.DB
	// Health, when set, gets the storage part: failing while events are not recorded.
	Health *health.Tracker
	// Reserve is the reserve file's path ("" = no reserve); ReserveBytes its size
	// (0 = DefaultReserveBytes).
	Reserve      string
	ReserveBytes int64
	// RetryEvery is how often Run tries to make the reserve again and to record what was
	// lost (0 = 5 s).
	RetryEvery time.Duration
	Logger     *slog.Logger
	Now        func() time.Time // nil = time.Now
}

// Recorder records events. Record and Append are safe for concurrent use; add followers
// before anything records.
type Recorder struct {
	o         Options
	followers []func(session.Event)
	failures  atomic.Uint64 // appends that failed, since start

	mu       sync.Mutex
	reserved bool      // the reserve file is in place
	lost     int       // events not recorded since the failures began
	since    time.Time // the first of them
	lastErr  string
}

// New returns a recorder and makes its reserve. A reserve that cannot be made (the disk is
// already full) is logged and tried again by Run.
func New(o Options) *Recorder {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReserveBytes <= 0 {
		o.ReserveBytes = DefaultReserveBytes
	}
	if o.RetryEvery <= 0 {
		o.RetryEvery = 5 * time.Second
	}
	if o.Health != nil {
		o.Health.Register(wire.PartStorage, health.Degraded, wire.HealthOK)
	}
	r := &Recorder{o: o}
	if err := r.makeReserve(); err != nil {
		o.Logger.Warn("recorder: no reserve for the session's events yet", "err", err)
	}
	return r
}

// Follow adds f to the parts told of every event, recorded or not.
func (r *Recorder) Follow(f func(session.Event)) { r.followers = append(r.followers, f) }

// Record records ev and tells the followers; a failure is counted and reported through the
// health (the session engine's Events option).
func (r *Recorder) Record(ev session.Event) { r.Append(context.Background(), ev) }

// Append records ev and tells the followers, and returns the error if ev was not recorded
// (the janitor keeps a photo's row when its purge was not recorded, and tries again).
func (r *Recorder) Append(ctx context.Context, ev session.Event) error {
	err := r.append(ctx, ev)
	if err != nil {
		r.failed(ev, err)
	} else {
		r.recover()
	}
	for _, f := range r.followers {
		f(ev)
	}
	return err
}

// essential are the session's own events, which the reserve is for.
func essential(typ string) bool {
	switch typ {
	case wire.EventSessionOpened, wire.EventSessionClosed, wire.EventPhotoPurged:
		return true
	}
	return false
}

// errReserveSpent refuses other events while the reserve is given back: the space it freed
// is for the session's events.
var errReserveSpent = errors.New("the disk is full: the space left is kept for session events")

func (r *Recorder) append(ctx context.Context, ev session.Event) error {
	r.mu.Lock()
	spent := r.o.Reserve != "" && !r.reserved
	r.mu.Unlock()
	if spent && r.makeReserve() == nil {
		spent = false // space again
	}
	if spent && !essential(ev.Type) {
		return errReserveSpent
	}
	_, err := r.o.DB.Append(ctx, ev)
	if err != nil && essential(ev.Type) && diskFull(err) {
		// Out of space: give the reserve back (the first time) and restart the write-ahead
		// log, so the checkpoint and this event have room.
		r.releaseReserve()
		r.checkpoint(ctx)
		_, err = r.o.DB.Append(ctx, ev)
		spent = true
	}
	if err == nil && spent {
		r.checkpoint(ctx) // the log's frames are reused, not grown into the freed space
	}
	return err
}

func (r *Recorder) checkpoint(ctx context.Context) {
	if err := r.o.DB.Checkpoint(ctx); err != nil {
		r.o.Logger.Warn("recorder: checkpoint on a full disk", "err", err)
	}
}

// diskFull reports whether err is the filesystem or SQLite out of space.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "disk is full") || strings.Contains(err.Error(), "SQLITE_FULL")
}

// releaseReserve removes the reserve file, reporting whether there was one to give back.
func (r *Recorder) releaseReserve() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.reserved {
		return false
	}
	if err := os.Remove(r.o.Reserve); err != nil {
		r.o.Logger.Error("recorder: give back the reserve", "err", err)
		return false
	}
	r.reserved = false
	r.o.Logger.Warn("the disk is full: the reserve is given back for the session's events; other events wait for space")
	return true
}

// makeReserve writes the reserve file in full (allocated blocks, not a sparse file).
func (r *Recorder) makeReserve() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.o.Reserve == "" || r.reserved {
		return nil
	}
	f, err := os.OpenFile(r.o.Reserve, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("recorder: reserve: %w", err)
	}
	err = syscall.Fallocate(int(f.Fd()), 0, 0, r.o.ReserveBytes)
	if errors.Is(err, syscall.EOPNOTSUPP) {
		_, err = f.WriteAt(make([]byte, r.o.ReserveBytes), 0)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(r.o.Reserve)
		return fmt.Errorf("recorder: reserve of %d bytes: %w", r.o.ReserveBytes, err)
	}
	r.reserved = true
	return nil
}

// failed counts an event that could not be recorded: the storage part turns failing and
// the first failure of a run is logged.
func (r *Recorder) failed(ev session.Event, err error) {
	r.failures.Add(1)
	r.mu.Lock()
	first := r.lost == 0
	if first {
		r.since = r.o.Now()
	}
	r.lost++
	r.lastErr = err.Error()
	// No count in the reason: it changes only when the error does, so the health (and the
	// fleet status and the log that follow it) is not told again for every lost event.
	reason := fmt.Sprintf("events not recorded since %s: %s", wire.FormatTime(r.since), r.lastErr)
	r.mu.Unlock()
	if first {
		r.o.Logger.Error("cannot record events: health degraded until they can be recorded again", "type", ev.Type, "err", err)
	}
	if r.o.Health != nil {
		r.o.Health.Set(wire.PartStorage, "failing", reason)
	}
}

// recover records, once recording works again and the reserve is back, one outbox.failed
// event that says how many events were lost; until then the storage part stays failing.
func (r *Recorder) recover() {
	if r.o.Reserve != "" {
		if err := r.makeReserve(); err != nil {
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost == 0 {
		return
	}
	ev := session.Event{Type: wire.EventOutboxFailed, At: r.o.Now(), Data: wire.OutboxFailed{
		Lost: r.lost, Since: wire.Time{Time: r.since}, Error: r.lastErr}}
	if _, err := r.o.DB.Append(context.Background(), ev); err != nil {
		return
	}
	r.o.Logger.Warn("events are recorded again", "lost", r.lost, "since", r.since)
	r.lost = 0
	if r.o.Health != nil {
		r.o.Health.SetOK(wire.PartStorage)
	}
}

// Failures is the number of events that could not be recorded since start.
func (r *Recorder) Failures() uint64 { return r.failures.Load() }

// Run tries, every RetryEvery, to make the reserve again and to record that events were
// lost, so that the health recovers when space returns even if nothing else happens.
func (r *Recorder) Run(ctx context.Context) error {
	t := time.NewTicker(r.o.RetryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.recover()
		}
	}
}
