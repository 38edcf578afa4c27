package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// ConsoleOpener returns a new, empty console store for one test; the suite closes it.
type ConsoleOpener func(t *testing.T) interface {
	hubstore.ConsoleStore
	Close() error
}

// RunConsole runs the cases of hubstore.ConsoleStore against stores from open.
func RunConsole(t *testing.T, open ConsoleOpener) {
	cases := []struct {
		name string
		fn   func(t *testing.T, st hubstore.ConsoleStore)
	}{
		{"Operators", testOperators},
		{"Sessions", testSessions},
		{"Audit", testAudit},
		{"MirrorStores", testMirrorStores},
		{"FlipAlert", testFlipAlert},
		{"FlipAlertRace", testFlipAlertRace},
		{"AlertOutbox", testAlertOutbox},
		{"AlertOutboxRace", testAlertOutboxRace},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := open(t)
			defer st.Close()
			c.fn(t, st)
		})
	}
}

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func testOperators(t *testing.T, st hubstore.ConsoleStore) {
	ctx := t.Context()
	if _, err := st.Operator(ctx, "ann"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Operator of nobody = %v, want ErrNotFound", err)
	}
	ann := hubstore.Operator{Name: "ann", Role: hubstore.RoleAdmin, Hash: "h1", CreatedAt: t0}
	if err := st.AddOperator(ctx, ann); err != nil {
		t.Fatal(err)
	}
	if err := st.AddOperator(ctx, hubstore.Operator{Name: "ann", Role: hubstore.RoleViewer, Hash: "h2", CreatedAt: t0}); !errors.Is(err, hubstore.ErrExists) {
		t.Errorf("AddOperator of a taken name = %v, want ErrExists", err)
	}
	st.AddOperator(ctx, hubstore.Operator{Name: "bob", Role: hubstore.RoleViewer, Hash: "hb", CreatedAt: t0})
	if got, err := st.Operator(ctx, "ann"); err != nil || got != ann {
		t.Errorf("Operator = %+v, %v; want %+v", got, err, ann)
	}
	all, err := st.Operators(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "ann" || all[1].Name != "bob" {
		t.Errorf("Operators = %+v, %v; want ann, bob", all, err)
	}
	st.AddSession(ctx, hubstore.ConsoleSession{ID: "s1", Operator: "ann", CSRF: "c", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	if err := st.SetOperatorHash(ctx, "ann", "h3"); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Operator(ctx, "ann"); got.Hash != "h3" {
		t.Errorf("hash after SetOperatorHash = %q, want h3", got.Hash)
	}
	if _, err := st.Session(ctx, "s1", t0); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("session after a new password = %v, want ended", err)
	}
	if err := st.SetOperatorHash(ctx, "zed", "x"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("SetOperatorHash of nobody = %v, want ErrNotFound", err)
	}
	st.AddSession(ctx, hubstore.ConsoleSession{ID: "s2", Operator: "bob", CSRF: "c", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	if err := st.RemoveOperator(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(ctx, "s2", t0); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("session of a removed operator = %v, want ended", err)
	}
	if err := st.RemoveOperator(ctx, "bob"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("RemoveOperator twice = %v, want ErrNotFound", err)
	}
}

func testSessions(t *testing.T, st hubstore.ConsoleStore) {
	ctx := t.Context()
	s := hubstore.ConsoleSession{ID: "abc", Operator: "ann", CSRF: "tok", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := st.AddSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Session(ctx, "abc", t0.Add(59*time.Minute)); err != nil || got != s {
		t.Errorf("Session = %+v, %v; want %+v", got, err, s)
	}
	if _, err := st.Session(ctx, "abc", t0.Add(time.Hour)); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Session at its expiry = %v, want ErrNotFound", err)
	}
	if err := st.AddSession(ctx, s); err == nil {
		t.Error("AddSession of a taken ID succeeded")
	}
	st.AddSession(ctx, hubstore.ConsoleSession{ID: "def", Operator: "ann", CSRF: "t", CreatedAt: t0, ExpiresAt: t0.Add(3 * time.Hour)})
	if err := st.PruneSessions(ctx, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(ctx, "def", t0); err != nil {
		t.Errorf("unexpired session after prune: %v", err)
	}
	if err := st.DeleteSession(ctx, "def"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(ctx, "def", t0); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Session after logout = %v, want ErrNotFound", err)
	}
}

func testAudit(t *testing.T, st hubstore.ConsoleStore) {
	ctx := t.Context()
	for i, a := range []string{"login", "ping", "logout"} {
		e := hubstore.AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Operator: "ann", Action: a, Target: "m1", Result: "ok", Remote: "127.0.0.1"}
		if err := st.AddAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Audit(ctx, 2)
	if err != nil || len(got) != 2 || got[0].Action != "logout" || got[1].Action != "ping" {
		t.Fatalf("Audit(2) = %+v, %v; want logout, ping", got, err)
	}
	want := hubstore.AuditEntry{At: t0.Add(2 * time.Second), Operator: "ann", Action: "logout", Target: "m1", Result: "ok", Remote: "127.0.0.1"}
	if got[0] != want {
		t.Errorf("Audit[0] = %+v, want %+v", got[0], want)
	}
}

func testMirrorStores(t *testing.T, st hubstore.ConsoleStore) {
	ctx := t.Context()
	st.SetMirrorStore(ctx, "m1", "shanghai-1")
	st.SetMirrorStore(ctx, "m2", "beijing")
	st.SetMirrorStore(ctx, "m1", "shanghai-2")
	st.SetMirrorStore(ctx, "m3", "x")
	if err := st.SetMirrorStore(ctx, "m3", ""); err != nil {
		t.Fatal(err)
	}
	got, err := st.MirrorStores(ctx)
	if err != nil || len(got) != 2 || got["m1"] != "shanghai-2" || got["m2"] != "beijing" {
		t.Errorf("MirrorStores = %v, %v; want m1 shanghai-2, m2 beijing", got, err)
	}
}

func testFlipAlert(t *testing.T, st hubstore.ConsoleStore) {
	ctx := t.Context()
	for i, c := range []struct {
		key    string
		firing bool
		want   bool
	}{
		{"m1/offline", false, false}, // a recovery of what never fired
		{"m1/offline", true, true},
		{"m1/offline", true, false},
		{"m2/offline", true, true},
		{"m1/offline", false, true},
		{"m1/offline", false, false},
		{"m1/offline", true, true},
	} {
		got, err := st.FlipAlert(ctx, c.key, c.firing, t0.Add(time.Duration(i)*time.Second))
		if err != nil || got != c.want {
			t.Errorf("step %d: FlipAlert(%s, %v) = %v, %v; want %v", i, c.key, c.firing, got, err, c.want)
		}
	}
}

// Replicas racing on one alert: exactly one of them flips it.
func testFlipAlertRace(t *testing.T, st hubstore.ConsoleStore) {
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ok, err := st.FlipAlert(t.Context(), "m9/silent", true, t0)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Errorf("%d of 8 racing flips won, want 1", won.Load())
	}
}
