package hub

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fitmirror/fitmirror/cloud/hub/pgtest"
)

// fakeTx is a transaction of fakeDB: its writes apply to the database only at commit.
type fakeTx struct{ pending []string }

// fakeDB is a database whose commits can be made to fail: the first abortCommits commits
// fail with errAborted (retryable), the rest succeed.
type fakeDB struct {
	abortCommits atomic.Int64
	committed    []string
}

var errAborted = errors.New("fake: deadlock detected, transaction aborted")

func (d *fakeDB) funcs() txFuncs[*fakeTx] {
	return txFuncs[*fakeTx]{
		begin: func(context.Context) (*fakeTx, error) { return &fakeTx{}, nil },
		commit: func(_ context.Context, tx *fakeTx) error {
			if d.abortCommits.Add(-1) >= 0 {
				return errAborted
			}
			d.committed = append(d.committed, tx.pending...)
			return nil
		},
		rollback:  func(*fakeTx) {},
		retryable: func(err error) bool { return errors.Is(err, errAborted) },
	}
}

// write is a write that records its runs.
func write(name string, runs *atomic.Int64, fail error) func(context.Context, *fakeTx) error {
	return func(_ context.Context, tx *fakeTx) error {
		runs.Add(1)
		if fail != nil {
			return fail
		}
		tx.pending = append(tx.pending, name)
		return nil
	}
}

// runBatch hands the writes to the committer as one batch (what its loop does with the
// writes queued during a commit) and returns each one's outcome.
func runBatch(g *groupCommit[*fakeTx], fns ...func(context.Context, *fakeTx) error) []error {
	batch := make([]*gcOp[*fakeTx], len(fns))
	for i, fn := range fns {
		batch[i] = &gcOp[*fakeTx]{ctx: context.Background(), fn: fn, err: make(chan error, 1)}
	}
	g.run(batch)
	errs := make([]error, len(batch))
	for i, op := range batch {
		errs[i] = <-op.err
	}
	return errs
}

func TestGroupCommitRunsAnAbortedBatchAgain(t *testing.T) {
	db := &fakeDB{}
	db.abortCommits.Store(2)
	g := &groupCommit[*fakeTx]{tx: db.funcs()}
	var runs [3]atomic.Int64
	errs := runBatch(g, write("a", &runs[0], nil), write("b", &runs[1], nil), write("c", &runs[2], nil))
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v, want committed", i, err)
		}
		if n := runs[i].Load(); n != 3 {
			t.Errorf("write %d ran %d times, want 3 (two aborted runs of the batch, then its commit)", i, n)
		}
	}
	if got := db.committed; len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Errorf("committed %v, want [a b c] once", got)
	}
	if s := g.stats(); s != (CommitStats{Transactions: 1, Writes: 3, Retries: 2}) {
		t.Errorf("stats = %+v, want one transaction of 3 writes after 2 retries", s)
	}
}

func TestGroupCommitGivesUpOnEndlessAborts(t *testing.T) {
	db := &fakeDB{}
	db.abortCommits.Store(1 << 30)
	g := &groupCommit[*fakeTx]{tx: db.funcs()}
	var runs [2]atomic.Int64
	errs := runBatch(g, write("a", &runs[0], nil), write("b", &runs[1], nil))
	for i, err := range errs {
		if !errors.Is(err, errAborted) {
			t.Errorf("write %d: %v, want the abort", i, err)
		}
		// The batch commitTries times, then the write alone commitTries times.
		if n := runs[i].Load(); n != 2*commitTries {
			t.Errorf("write %d ran %d times, want %d", i, n, 2*commitTries)
		}
	}
	if len(db.committed) != 0 {
		t.Errorf("committed %v, want nothing", db.committed)
	}
}

func TestGroupCommitBadWriteFailsAlone(t *testing.T) {
	db := &fakeDB{}
	g := &groupCommit[*fakeTx]{tx: db.funcs()}
	bad := errors.New("constraint failed")
	var runs [3]atomic.Int64
	errs := runBatch(g, write("a", &runs[0], nil), write("b", &runs[1], bad), write("c", &runs[2], nil))
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], bad) {
		t.Errorf("outcomes %v, want only b to fail", errs)
	}
	if n := runs[1].Load(); n != 2 { // in the batch, then alone: not retried, it is not an abort
		t.Errorf("bad write ran %d times, want 2", n)
	}
	if got := db.committed; len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Errorf("committed %v, want [a c]", got)
	}
}

// Writes that deadlock with another writer on real PostgreSQL: the server aborts the
// committer's transaction (its deadlock check runs first), the committer runs it again, and
// every write lands once. Alone, a write used to fail outright; in a batch, the batch used to
// fall apart into single transactions.
func TestGroupCommitDeadlockOnPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	srv := pgtest.Start(t)
	bump := func(keys ...string) func(context.Context, pgx.Tx) error {
		return func(ctx context.Context, tx pgx.Tx) error {
			for _, k := range keys {
				if _, err := tx.Exec(ctx, `UPDATE events SET attempts = attempts + 1 WHERE key = $1`, k); err != nil {
					return err
				}
			}
			return nil
		}
	}
	for _, tc := range []struct {
		name   string
		writes []func(context.Context, pgx.Tx) error
	}{
		{"one write", []func(context.Context, pgx.Tx) error{bump("ka", "kb")}},     // takes ka, waits for kb
		{"a batch", []func(context.Context, pgx.Tx) error{bump("ka"), bump("kb")}}, // the same, as two writes
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := srv.NewDatabase(t)
			p, err := OpenPostgres(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			testDeadlock(ctx, t, p, url, tc.writes)
		})
	}
}

func testDeadlock(ctx context.Context, t *testing.T, p *Postgres, url string, writes []func(context.Context, pgx.Tx) error) {
	for _, k := range []string{"ka", "kb"} {
		if _, _, err := p.RecordEvent(ctx, Event{Key: k, BindingID: "B" + k, DeviceID: "m1", PhotoID: "P1", User: "u",
			Payload: []byte("{}"), Reply: []byte("<xml/>"), At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	// The other writer holds kb and will ask for ka. Its own deadlock check waits 10 s, so
	// the committer's (1 s, the default) finds the cycle and the committer is the side aborted.
	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	otx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer otx.Rollback(context.Background())
	if _, err := otx.Exec(ctx, `SET LOCAL deadlock_timeout = '10s'`); err != nil {
		t.Fatal(err)
	}
	if _, err := otx.Exec(ctx, `UPDATE events SET attempts = attempts + 10 WHERE key = 'kb'`); err != nil {
		t.Fatal(err)
	}
	batch := make([]*gcOp[pgx.Tx], len(writes))
	for i, fn := range writes {
		batch[i] = &gcOp[pgx.Tx]{ctx: ctx, fn: fn, err: make(chan error, 1)}
	}
	before := p.CommitStats()
	go p.gc.run(batch)
	// Once the committer waits for kb, the other writer asks for ka: a cycle.
	for {
		var waiting int
		if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE events%'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the committer never waited for kb")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if _, err := otx.Exec(ctx, `UPDATE events SET attempts = attempts + 10 WHERE key = 'ka'`); err != nil {
		t.Fatalf("the other writer was aborted, not the committer: %v", err)
	}
	if err := otx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for i, op := range batch {
		if err := <-op.err; err != nil {
			t.Errorf("write %d: %v, want committed on a later run", i, err)
		}
	}
	if s := p.CommitStats(); s.Retries-before.Retries < 1 || s.Transactions-before.Transactions != 1 {
		t.Errorf("commit stats %+v after %+v, want the aborted transaction run again and committed as one", s, before)
	}
	for _, k := range []string{"ka", "kb"} {
		e, err := p.Event(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if e.Attempts != 11 { // the other writer's 10 and the committer's 1: the aborted run left nothing
			t.Errorf("%s attempts = %d, want 11", k, e.Attempts)
		}
	}
}
