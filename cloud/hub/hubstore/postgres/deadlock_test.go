package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres/pgtest"
)

// Writes that deadlock with another writer on real PostgreSQL: the server aborts the
// committer's transaction (its deadlock check runs first), the committer runs it again, and
// every write lands once. Alone, a write used to fail outright; in a batch, the batch used to
// fall apart into single transactions.
func TestGroupCommitDeadlock(t *testing.T) {
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
			p, err := Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			testDeadlock(ctx, t, p, url, tc.writes)
		})
	}
}

func testDeadlock(ctx context.Context, t *testing.T, p *Store, url string, writes []func(context.Context, pgx.Tx) error) {
	for _, k := range []string{"ka", "kb"} {
		if _, _, err := p.RecordEvent(ctx, hubstore.Event{Key: k, BindingID: "B" + k, DeviceID: "m1", PhotoID: "P1", User: "u",
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
	before := p.CommitStats()
	outcomes := make(chan []error, 1)
	go func() { outcomes <- p.gc.RunBatch(ctx, writes...) }()
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
	for i, err := range <-outcomes {
		if err != nil {
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
