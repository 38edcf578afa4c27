// Package groupcommit runs the writes of concurrent callers in shared transactions, for the
// hub's SQL backends (sqlite, postgres): one commit, so one fsync, for many writes.
package groupcommit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// TxFuncs is how a backend runs one transaction.
type TxFuncs[Tx any] struct {
	Begin    func(ctx context.Context) (Tx, error)
	Commit   func(ctx context.Context, tx Tx) error
	Rollback func(tx Tx)
	// retryable reports an error for which the database aborted the transaction and running
	// it again is expected to succeed (PostgreSQL's deadlock and serialization failures).
	// Nil: none is.
	Retryable func(error) bool
	// oneWriter: the database takes one write transaction at a time (SQLite). Without group
	// commit, writers then queue on a mutex here, in order, rather than in SQLite's busy
	// handler, which sleeps and retries and starves some of them past busy_timeout.
	OneWriter bool
}

// Committer runs the writes of concurrent callers (new events, published marks) in shared
// transactions: one commit, so one fsync, for all the writes queued while the previous commit
// ran. A caller's write returns only once the transaction that holds it has committed, so a
// callback still answers only what is recorded. Nothing waits for company: a write that finds
// the committer idle commits at once, alone.
//
// When a shared transaction fails, its writes are retried one transaction each, so that one
// bad write fails alone.
type Committer[Tx any] struct {
	tx      TxFuncs[Tx]
	enabled bool
	max     int

	ops  chan *gcOp[Tx]
	stop chan struct{}
	done chan struct{}
	once sync.Once

	writer sync.Mutex // held by a writer without group commit, when tx.OneWriter

	batches, writes, retries atomic.Int64
}

type gcOp[Tx any] struct {
	ctx context.Context
	fn  func(ctx context.Context, tx Tx) error
	err chan error
}

// New starts a committer (its goroutine, unless o.GroupCommit is off); Close stops it.
func New[Tx any](tx TxFuncs[Tx], o hubstore.Options) *Committer[Tx] {
	g := &Committer[Tx]{tx: tx, enabled: o.GroupCommit, max: max(1, o.MaxBatch),
		ops: make(chan *gcOp[Tx]), stop: make(chan struct{}), done: make(chan struct{})}
	if g.enabled {
		go g.loop()
	} else {
		close(g.done)
	}
	return g
}

// Do runs fn inside a transaction and returns once that transaction committed (nil) or
// failed. fn may run more than once (alone, after a failed shared transaction): it must set
// its results afresh each time.
func (g *Committer[Tx]) Do(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error {
	if !g.enabled {
		select {
		case <-g.stop:
			return hubstore.ErrClosed
		default:
		}
		if g.tx.OneWriter {
			g.writer.Lock()
			defer g.writer.Unlock()
		}
		return g.single(ctx, fn)
	}
	op := &gcOp[Tx]{ctx: ctx, fn: fn, err: make(chan error, 1)}
	select {
	case g.ops <- op:
	case <-g.stop:
		return hubstore.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, the write is finished regardless of ctx: its outcome is what the
	// caller must learn.
	return <-op.err
}

// Close stops the committer, once the writes it holds are done.
func (g *Committer[Tx]) Close() {
	g.once.Do(func() { close(g.stop) })
	<-g.done
}

func (g *Committer[Tx]) loop() {
	defer close(g.done)
	batch := make([]*gcOp[Tx], 0, g.max)
	for {
		batch = batch[:0]
		select {
		case op := <-g.ops:
			batch = append(batch, op)
		case <-g.stop:
			return
		}
	drain:
		for len(batch) < g.max {
			select {
			case op := <-g.ops:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		g.run(batch)
	}
}

func (g *Committer[Tx]) run(batch []*gcOp[Tx]) {
	live := batch[:0:0]
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil { // its caller gave up before it started
			op.err <- err
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 {
		return
	}
	if len(live) == 1 {
		live[0].err <- g.single(live[0].ctx, live[0].fn)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fns := make([]func(ctx context.Context, tx Tx) error, len(live))
	for i, op := range live {
		fns[i] = op.fn
	}
	if err := g.commit(ctx, fns...); err == nil {
		for _, op := range live {
			op.err <- nil
		}
		return
	}
	for _, op := range live { // one by one, so that only the bad one fails
		op.err <- g.single(op.ctx, op.fn)
	}
}

// RunBatch runs fns as one batch, as the committer's loop runs the writes queued during a
// commit, and returns each one's outcome: tests make batches with it.
func (g *Committer[Tx]) RunBatch(ctx context.Context, fns ...func(ctx context.Context, tx Tx) error) []error {
	batch := make([]*gcOp[Tx], len(fns))
	for i, fn := range fns {
		batch[i] = &gcOp[Tx]{ctx: ctx, fn: fn, err: make(chan error, 1)}
	}
	g.run(batch)
	errs := make([]error, len(batch))
	for i, op := range batch {
		errs[i] = <-op.err
	}
	return errs
}

func (g *Committer[Tx]) single(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error {
	return g.commit(ctx, fn)
}

// commitTries bounds the runs of one transaction the database aborted as one side of a
// deadlock or a serialization failure (TxFuncs.Retryable).
const commitTries = 5

// commit runs fns in one transaction and commits it, running it again (a few milliseconds
// later, up to commitTries times) while the database aborts it as retryable: a deadlock
// between a batch and another writer is resolved by the database aborting one side, and
// the writes here are safe to run again.
func (g *Committer[Tx]) commit(ctx context.Context, fns ...func(ctx context.Context, tx Tx) error) error {
	for try := 1; ; try++ {
		err := g.commitOnce(ctx, fns)
		if err == nil {
			g.batches.Add(1)
			g.writes.Add(int64(len(fns)))
			return nil
		}
		if g.tx.Retryable == nil || !g.tx.Retryable(err) || try == commitTries {
			return err
		}
		g.retries.Add(1)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(5*try) * time.Millisecond):
		}
	}
}

func (g *Committer[Tx]) commitOnce(ctx context.Context, fns []func(ctx context.Context, tx Tx) error) error {
	tx, err := g.tx.Begin(ctx)
	if err != nil {
		return err
	}
	for _, fn := range fns {
		if err := fn(ctx, tx); err != nil {
			g.tx.Rollback(tx)
			return err
		}
	}
	return g.tx.Commit(ctx, tx)
}

// Stats counts the transactions committed, the writes they held and the runs that ran again.
func (g *Committer[Tx]) Stats() hubstore.CommitStats {
	return hubstore.CommitStats{Transactions: g.batches.Load(), Writes: g.writes.Load(), Retries: g.retries.Load()}
}
