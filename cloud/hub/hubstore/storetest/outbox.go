package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// A flip that wins puts its notices in the outbox, leased to the flipping replica; one that
// loses puts none. Another replica claims a notice only once its lease ended; the holder
// extends its lease, a replica that lost it cannot, and a delivered notice is gone.
func testAlertOutbox(t *testing.T, st hubstore.ConsoleStore) {
	ctx := t.Context()
	lease := time.Minute
	n := hubstore.AlertNotice{ID: "n1-webhook", Channel: "webhook", Body: []byte(`{"Text":"m1 is offline"}`), CreatedAt: t0, Owner: "a", LeaseUntil: t0.Add(lease)}
	if won, err := st.FlipAlert(ctx, "mirror/m1", true, t0, n); !won || err != nil {
		t.Fatalf("FlipAlert = %v, %v", won, err)
	}
	lost := n
	lost.ID = "n2-webhook"
	if won, err := st.FlipAlert(ctx, "mirror/m1", true, t0, lost); won || err != nil {
		t.Fatalf("second FlipAlert = %v, %v, want false", won, err)
	}
	if got, err := st.ClaimAlertNotices(ctx, "b", t0.Add(30*time.Second), lease, 10); len(got) != 0 || err != nil {
		t.Fatalf("claim within a's lease = %v, %v, want nothing", got, err)
	}
	if ok, err := st.LeaseAlertNotice(ctx, n.ID, "a", 2, t0.Add(3*time.Minute)); !ok || err != nil {
		t.Fatalf("a extends its lease: %v, %v", ok, err)
	}
	if got, _ := st.ClaimAlertNotices(ctx, "b", t0.Add(2*time.Minute), lease, 10); len(got) != 0 {
		t.Fatalf("claim within a's extended lease = %v, want nothing", got)
	}
	at := t0.Add(3 * time.Minute)
	got, err := st.ClaimAlertNotices(ctx, "b", at, lease, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim once a's lease ended = %v, %v, want n1", got, err)
	}
	g := got[0]
	if g.ID != n.ID || g.Channel != "webhook" || string(g.Body) != string(n.Body) || g.Attempts != 2 || !g.CreatedAt.Equal(t0) ||
		g.Owner != "b" || !g.LeaseUntil.Equal(at.Add(lease)) {
		t.Errorf("claimed %+v, want n1 with 2 attempts, leased to b until %v", g, at.Add(lease))
	}
	if ok, _ := st.LeaseAlertNotice(ctx, n.ID, "a", 3, at.Add(time.Hour)); ok {
		t.Error("a extended a lease b holds")
	}
	if err := st.DeleteAlertNotice(ctx, n.ID, "a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ClaimAlertNotices(ctx, "c", at.Add(2*lease), lease, 10); len(got) != 1 {
		t.Fatalf("a deleted b's notice: claim = %v", got)
	}
	if err := st.DeleteAlertNotice(ctx, n.ID, "c"); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ClaimAlertNotices(ctx, "d", at.Add(time.Hour), lease, 10); len(got) != 0 {
		t.Errorf("a delivered notice was claimed again: %v", got)
	}
}

// Replicas claiming together: each expired notice goes to exactly one of them.
func testAlertOutboxRace(t *testing.T, st hubstore.ConsoleStore) {
	ctx := t.Context()
	var notices []hubstore.AlertNotice
	for i := range 20 {
		notices = append(notices, hubstore.AlertNotice{ID: fmt.Sprintf("n%02d", i), Channel: "email", Body: []byte("{}"), CreatedAt: t0, Owner: "dead", LeaseUntil: t0})
	}
	if won, err := st.FlipAlert(ctx, "mirror/m2", true, t0, notices...); !won || err != nil {
		t.Fatalf("FlipAlert = %v, %v", won, err)
	}
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for range 10 {
				got, err := st.ClaimAlertNotices(ctx, fmt.Sprint("r", r), t0.Add(time.Second), time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, n := range got {
					ids = append(ids, n.ID)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(ids)
	if len(ids) != 20 || len(slices.Compact(slices.Clone(ids))) != 20 {
		t.Errorf("claimed %v, want each of the 20 notices once", ids)
	}
}
