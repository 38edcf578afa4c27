package hubstore

import "errors"

// ErrClosed is returned by a store's writes after Close.
var ErrClosed = errors.New("hub: store closed")

// Option tunes a backend's Open (sqlite.Open, postgres.Open).
type Option func(*Options)

// Options are what the Options given to a backend's Open set; NewOptions applies them.
type Options struct {
	// GroupCommit runs the new events and delivery marks of concurrent callers in shared
	// transactions (the default).
	GroupCommit bool
	// MaxBatch bounds the writes of one shared transaction.
	MaxBatch int
}

// NewOptions applies opts to the defaults: group commit, at most 256 writes a transaction.
func NewOptions(opts []Option) Options {
	o := Options{GroupCommit: true, MaxBatch: 256}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithoutGroupCommit makes every write its own transaction (one commit, one fsync, per
// event): the baseline the group-commit benchmark compares against.
func WithoutGroupCommit() Option { return func(o *Options) { o.GroupCommit = false } }

// CommitStats counts the write transactions a store committed, the writes they held, and
// the runs the database aborted as retryable (a deadlock) and that ran again.
type CommitStats struct{ Transactions, Writes, Retries int64 }
