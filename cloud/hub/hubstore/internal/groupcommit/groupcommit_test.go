package groupcommit

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
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

func (d *fakeDB) funcs() TxFuncs[*fakeTx] {
	return TxFuncs[*fakeTx]{
		Begin: func(context.Context) (*fakeTx, error) { return &fakeTx{}, nil },
		Commit: func(_ context.Context, tx *fakeTx) error {
			if d.abortCommits.Add(-1) >= 0 {
				return errAborted
			}
			d.committed = append(d.committed, tx.pending...)
			return nil
		},
		Rollback:  func(*fakeTx) {},
		Retryable: func(err error) bool { return errors.Is(err, errAborted) },
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

func TestGroupCommitRunsAnAbortedBatchAgain(t *testing.T) {
	db := &fakeDB{}
	db.abortCommits.Store(2)
	g := &Committer[*fakeTx]{tx: db.funcs()}
	var runs [3]atomic.Int64
	errs := g.RunBatch(context.Background(), write("a", &runs[0], nil), write("b", &runs[1], nil), write("c", &runs[2], nil))
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
	if s := g.Stats(); s != (hubstore.CommitStats{Transactions: 1, Writes: 3, Retries: 2}) {
		t.Errorf("stats = %+v, want one transaction of 3 writes after 2 retries", s)
	}
}

func TestGroupCommitGivesUpOnEndlessAborts(t *testing.T) {
	db := &fakeDB{}
	db.abortCommits.Store(1 << 30)
	g := &Committer[*fakeTx]{tx: db.funcs()}
	var runs [2]atomic.Int64
	errs := g.RunBatch(context.Background(), write("a", &runs[0], nil), write("b", &runs[1], nil))
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
	g := &Committer[*fakeTx]{tx: db.funcs()}
	bad := errors.New("constraint failed")
	var runs [3]atomic.Int64
	errs := g.RunBatch(context.Background(), write("a", &runs[0], nil), write("b", &runs[1], bad), write("c", &runs[2], nil))
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
