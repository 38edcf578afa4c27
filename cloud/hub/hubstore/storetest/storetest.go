// Package storetest is the conformance suite every hubstore.Store passes: SQLite (the embedded
// default) and PostgreSQL (replicas) run the same cases. Whoever adds a Store method adds its
// cases here.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// Opener returns a new, empty store for one test; the suite closes it.
type Opener func(t *testing.T) hubstore.Store

// Run runs every case against stores from open.
func Run(t *testing.T, open Opener) {
	cases := []struct {
		name string
		fn   func(t *testing.T, st hubstore.Store)
	}{
		{"Devices", testDevices},
		{"RotateDevice", testRotateDevice},
		{"RemoveDevice", testRemoveDevice},
		{"Photos", testPhotos},
		{"Scenes", testScenes},
		{"Events", testEvents},
		{"EventsRace", testEventsRace},
		{"EventsConcurrent", testEventsConcurrent},
		{"Delivery", testDelivery},
		{"ClaimOrder", testClaimOrder},
		{"StaleAndDelete", testStaleAndDelete},
		{"PruneEvents", testPruneEvents},
		{"Secret", testSecret},
		{"Ping", testPing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := open(t)
			defer st.Close()
			c.fn(t, st)
		})
	}
}

// RunBlobs runs the cases of a photo store.
func RunBlobs(t *testing.T, b hubstore.Blobs) {
	ctx := t.Context()
	if _, err := b.Get(ctx, "P1-0123456789abcdef.jpg"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Get of a missing key = %v, want ErrNotFound", err)
	}
	data := append([]byte{0xff, 0xd8, 0xff}, bytes.Repeat([]byte{0, 1, 2, 0xfe}, 100_000)...)
	if err := b.Put(ctx, "P1-0123456789abcdef.jpg", data); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "P1-0123456789abcdef.jpg"); err != nil || !bytes.Equal(got, data) {
		t.Errorf("Get = %d bytes, %v; want the %d put", len(got), err, len(data))
	}
	if err := b.Put(ctx, "P1-0123456789abcdef.jpg", data[:10]); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Get(ctx, "P1-0123456789abcdef.jpg"); !bytes.Equal(got, data[:10]) {
		t.Errorf("Get after a second Put = %d bytes, want 10", len(got))
	}
	if err := b.Delete(ctx, "P1-0123456789abcdef.jpg"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "P1-0123456789abcdef.jpg"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, "P1-0123456789abcdef.jpg"); err != nil {
		t.Errorf("Delete of a missing key = %v, want nil", err)
	}
}

// at is a fixed time with milliseconds, the precision every store keeps.
var at = time.Date(2026, 11, 30, 8, 1, 2, 345_000_000, time.UTC)

func testRotateDevice(t *testing.T, st hubstore.Store) {
	ctx := t.Context()
	if err := st.AddDevice(ctx, hubstore.Device{ID: "m1", TokenHash: "tok1", MQTTHash: "mq1", CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.RotateDevice(ctx, "m1", "tok2", "mq2"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeviceByToken(ctx, "tok1"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("old token after rotation = %v, want ErrNotFound", err)
	}
	if d, err := st.DeviceByToken(ctx, "tok2"); err != nil || d.ID != "m1" || d.MQTTHash != "mq2" || !d.CreatedAt.Equal(at) {
		t.Errorf("new token = %+v, %v", d, err)
	}
	if err := st.RotateDevice(ctx, "m9", "t", "m"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("RotateDevice(unknown) = %v, want ErrNotFound", err)
	}
}

func testRemoveDevice(t *testing.T, st hubstore.Store) {
	ctx := t.Context()
	for _, id := range []string{"m1", "m2"} {
		if err := st.AddDevice(ctx, hubstore.Device{ID: id, TokenHash: "tok-" + id, MQTTHash: "mq-" + id, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RemoveDevice(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Device(ctx, "m1"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("removed device = %v, want ErrNotFound", err)
	}
	if _, err := st.DeviceByToken(ctx, "tok-m1"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("removed device's token = %v, want ErrNotFound", err)
	}
	if d, err := st.Device(ctx, "m2"); err != nil || d.ID != "m2" {
		t.Errorf("the other device = %+v, %v", d, err)
	}
	if err := st.RemoveDevice(ctx, "m1"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("RemoveDevice twice = %v, want ErrNotFound", err)
	}
	// The ID can be registered again, with new credentials.
	if err := st.AddDevice(ctx, hubstore.Device{ID: "m1", TokenHash: "tok-new", MQTTHash: "mq-new", CreatedAt: at}); err != nil {
		t.Errorf("AddDevice after removal: %v", err)
	}
}

func testDevices(t *testing.T, st hubstore.Store) {
	ctx := t.Context()
	d := hubstore.Device{ID: "m1", TokenHash: "tok1", MQTTHash: "mq1", CreatedAt: at}
	if err := st.AddDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := st.AddDevice(ctx, hubstore.Device{ID: "m1", TokenHash: "tok2", MQTTHash: "mq2", CreatedAt: at}); !errors.Is(err, hubstore.ErrExists) {
		t.Errorf("second AddDevice m1 = %v, want ErrExists", err)
	}
	if got, err := st.Device(ctx, "m1"); err != nil || got != d {
		t.Errorf("Device(m1) = %+v, %v; want %+v", got, err, d)
	}
	if got, err := st.DeviceByToken(ctx, "tok1"); err != nil || got != d {
		t.Errorf("DeviceByToken(tok1) = %+v, %v", got, err)
	}
	if _, err := st.DeviceByToken(ctx, "tok2"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("DeviceByToken(tok2) = %v, want ErrNotFound (the refused device left nothing)", err)
	}
	if _, err := st.Device(ctx, "m2"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Device(m2) = %v, want ErrNotFound", err)
	}
	// Many adders of one ID at once: exactly one wins.
	var wins, exists int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			err := st.AddDevice(ctx, hubstore.Device{ID: "m3", TokenHash: fmt.Sprint("t3-", i), MQTTHash: "x", CreatedAt: at})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, hubstore.ErrExists):
				exists++
			default:
				t.Errorf("AddDevice m3: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || exists != 15 {
		t.Errorf("16 concurrent AddDevice m3: %d won, %d ErrExists; want 1 and 15", wins, exists)
	}
}

func testPhotos(t *testing.T, st hubstore.Store) {
	ctx := t.Context()
	p := hubstore.Photo{ID: "P1", DeviceID: "m1", SessionID: "S1", SHA256: "aa11", Size: 1234, CreatedAt: at}
	if created, err := st.PutPhoto(ctx, p); err != nil || !created {
		t.Fatalf("PutPhoto = %v, %v; want created", created, err)
	}
	if created, err := st.PutPhoto(ctx, p); err != nil || created {
		t.Errorf("PutPhoto again = %v, %v; want not created, no error", created, err)
	}
	other := p
	other.SHA256 = "bb22"
	if _, err := st.PutPhoto(ctx, other); !errors.Is(err, hubstore.ErrConflict) {
		t.Errorf("PutPhoto other bytes = %v, want ErrConflict", err)
	}
	thief := p
	thief.DeviceID = "m2"
	if _, err := st.PutPhoto(ctx, thief); !errors.Is(err, hubstore.ErrConflict) {
		t.Errorf("PutPhoto same bytes by another device = %v, want ErrConflict", err)
	}
	if got, err := st.Photo(ctx, "P1"); err != nil || got != p {
		t.Errorf("Photo(P1) = %+v, %v; want %+v", got, err, p)
	}
	if _, err := st.Photo(ctx, "P2"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Photo(P2) = %v, want ErrNotFound", err)
	}
	if k := p.BlobKey(); k != "P1-aa11.jpg" {
		t.Errorf("BlobKey = %q", k)
	}
}

func testScenes(t *testing.T, st hubstore.Store) {
	ctx := t.Context()
	s1 := hubstore.Scene{Scene: "s1", Ticket: "T1", URL: "http://weixin.qq.com/q/1", PhotoID: "P1", DeviceID: "m1", ExpiresAt: at}
	if err := st.AddScene(ctx, s1); err != nil {
		t.Fatal(err)
	}
	if err := st.AddScene(ctx, hubstore.Scene{Scene: "s1", Ticket: "T9", PhotoID: "P9", DeviceID: "m9", ExpiresAt: at}); !errors.Is(err, hubstore.ErrExists) {
		t.Errorf("AddScene s1 again = %v, want ErrExists", err)
	}
	if got, err := st.Scene(ctx, "s1"); err != nil || got != s1 {
		t.Errorf("Scene(s1) = %+v, %v; want %+v", got, err, s1)
	}
	// WeChat may hand out one ticket twice (same scene string re-created): the latest wins.
	s2 := hubstore.Scene{Scene: "s2", Ticket: "T1", URL: "u2", PhotoID: "P2", DeviceID: "m1", ExpiresAt: at.Add(time.Minute)}
	if err := st.AddScene(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if got, err := st.SceneByTicket(ctx, "T1"); err != nil || got != s2 {
		t.Errorf("SceneByTicket(T1) = %+v, %v; want the later %+v", got, err, s2)
	}
	if _, err := st.Scene(ctx, "s3"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Scene(s3) = %v, want ErrNotFound", err)
	}
	if _, err := st.SceneByTicket(ctx, "T3"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("SceneByTicket(T3) = %v, want ErrNotFound", err)
	}
}

func event(key, binding, photo, user string, at time.Time) hubstore.Event {
	return hubstore.Event{Key: key, BindingID: binding, DeviceID: "m1", PhotoID: photo, User: user,
		Payload: []byte(`{"binding_id":"` + binding + `"}`), Reply: []byte("<xml>" + binding + "</xml>"), At: at}
}

func testEvents(t *testing.T, st hubstore.Store) {
	ctx := t.Context()
	e := event("k1", "B1", "P1", "u1", at)
	if ok, _ := st.IsViewer(ctx, "P1", "u1"); ok {
		t.Fatal("u1 views P1 before any event")
	}
	stored, isNew, err := st.RecordEvent(ctx, e)
	if err != nil || !isNew || !equalEvent(stored, e) {
		t.Fatalf("RecordEvent = %+v, %v, %v; want it new", stored, isNew, err)
	}
	if ok, err := st.IsViewer(ctx, "P1", "u1"); err != nil || !ok {
		t.Errorf("IsViewer(P1, u1) after the event = %v, %v", ok, err)
	}
	if ok, _ := st.IsViewer(ctx, "P1", "u2"); ok {
		t.Error("u2 views P1 without scanning")
	}
	// A retry carries the same key and a fresh binding ID: the first one is kept.
	retry := event("k1", "B2", "P1", "u1", at.Add(time.Second))
	stored, isNew, err = st.RecordEvent(ctx, retry)
	if err != nil || isNew || !equalEvent(stored, e) {
		t.Errorf("RecordEvent of a retry = %+v, %v, %v; want the first event, not new", stored, isNew, err)
	}
	if got, err := st.Event(ctx, "k1"); err != nil || !equalEvent(got, e) {
		t.Errorf("Event(k1) = %+v, %v", got, err)
	}
	if _, err := st.Event(ctx, "k2"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Event(k2) = %v, want ErrNotFound", err)
	}
	// A second shopper scanning the same photo views it too.
	if _, isNew, err := st.RecordEvent(ctx, event("k2", "B3", "P1", "u2", at)); err != nil || !isNew {
		t.Fatalf("RecordEvent k2 = %v, %v", isNew, err)
	}
	if ok, _ := st.IsViewer(ctx, "P1", "u2"); !ok {
		t.Error("u2 does not view P1 after scanning")
	}
}

// testEventsRace: one push delivered many times at once (WeChat's retries, replicas behind a
// load balancer) records one event; every caller gets that one.
func testEventsRace(t *testing.T, st hubstore.Store) {
	ctx := t.Context()
	const n = 32
	var mu sync.Mutex
	var wg sync.WaitGroup
	news := 0
	bindings := map[string]int{}
	for i := range n {
		wg.Go(func() {
			stored, isNew, err := st.RecordEvent(ctx, event("race", fmt.Sprint("B", i), "P1", "u1", at))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("RecordEvent: %v", err)
				return
			}
			if isNew {
				news++
			}
			bindings[stored.BindingID]++
		})
	}
	wg.Wait()
	if news != 1 || len(bindings) != 1 {
		t.Errorf("%d concurrent RecordEvent of one key: %d new, bindings returned %v; want 1 new and one binding for all", n, news, bindings)
	}
}

// testEventsConcurrent: many distinct events at once (a group-committed burst) are all
// recorded, each with its own viewer, and all are pending delivery.
func testEventsConcurrent(t *testing.T, st hubstore.Store) {
	ctx := t.Context()
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e := event(fmt.Sprint("k", i), fmt.Sprint("B", i), fmt.Sprint("P", i%7), fmt.Sprint("u", i), at.Add(time.Duration(i)*time.Millisecond))
			stored, isNew, err := st.RecordEvent(ctx, e)
			if err != nil || !isNew || !equalEvent(stored, e) {
				t.Errorf("RecordEvent %d: new %v, %v (stored %s)", i, isNew, err, stored.BindingID)
			}
		})
	}
	wg.Wait()
	un, err := st.PendingBindings(ctx, "", at.Add(time.Hour), 1000)
	if err != nil || len(un) != n {
		t.Fatalf("PendingBindings = %d, %v; want %d", len(un), err, n)
	}
	for i := range n {
		if ok, _ := st.IsViewer(ctx, fmt.Sprint("P", i%7), fmt.Sprint("u", i)); !ok {
			t.Errorf("u%d does not view P%d", i, i%7)
		}
	}
}

func testDelivery(t *testing.T, st hubstore.Store) {
	ctx := t.Context()
	far := at.Add(time.Hour)
	for i := range 5 {
		if _, _, err := st.RecordEvent(ctx, event(fmt.Sprint("k", i), fmt.Sprint("B", i), "P1", "u1", at.Add(time.Duration(5-i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	m2 := event("k-m2", "B-m2", "P2", "u1", at)
	m2.DeviceID = "m2"
	later := event("k-later", "B-later", "P1", "u1", at)
	later.NextAt = at.Add(time.Minute) // not due before then
	for _, e := range []hubstore.Event{m2, later} {
		if stored, _, err := st.RecordEvent(ctx, e); err != nil || !stored.NextAt.Equal(e.NextAt) {
			t.Fatalf("RecordEvent %s = NextAt %v, %v", e.Key, stored.NextAt, err)
		}
	}
	pending := func(device string, due time.Time, limit int) []string {
		t.Helper()
		evs, err := st.PendingBindings(ctx, device, due, limit)
		if err != nil {
			t.Fatal(err)
		}
		return eventKeys(evs)
	}
	if got := pending("m1", at, 3); !slices.Equal(got, []string{"k4", "k3", "k2"}) {
		t.Errorf("PendingBindings(m1, 3) = %v, want the oldest three first: [k4 k3 k2]", got)
	}
	if got := pending("m2", far, 10); !slices.Equal(got, []string{"k-m2"}) {
		t.Errorf("PendingBindings(m2) = %v, want [k-m2]", got)
	}
	if got := pending("", at, 10); len(got) != 6 || slices.Contains(got, "k-later") {
		t.Errorf("PendingBindings(every device, now) = %v, want 6 without k-later", got)
	}
	if got := pending("", at.Add(time.Minute), 10); len(got) != 7 {
		t.Errorf("PendingBindings(every device, in a minute) = %v, want all 7", got)
	}

	// An attempt: the broker took it, due again in 15 s unless acknowledged.
	if err := st.MarkSent(ctx, "k4", true, at.Add(15*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkSent(ctx, "k3", false, at.Add(time.Second)); err != nil { // the broker was down
		t.Fatal(err)
	}
	if e, _ := st.Event(ctx, "k4"); !e.Published || e.Attempts != 1 || !e.NextAt.Equal(at.Add(15*time.Second)) || e.Acked {
		t.Errorf("k4 after MarkSent = published %v, attempts %d, next %v, acked %v", e.Published, e.Attempts, e.NextAt, e.Acked)
	}
	if e, _ := st.Event(ctx, "k3"); e.Published || e.Attempts != 1 {
		t.Errorf("k3 after a failed attempt = published %v, attempts %d", e.Published, e.Attempts)
	}
	if got := pending("m1", at, 10); slices.Contains(got, "k4") || slices.Contains(got, "k3") {
		t.Errorf("PendingBindings(now) after the attempts = %v, want neither k4 nor k3 until due", got)
	}
	if got := pending("m1", at.Add(20*time.Second), 10); !slices.Contains(got, "k4") {
		t.Errorf("PendingBindings(in 20 s) = %v, want k4 due again", got)
	}

	// Acknowledgements are the device's own.
	if n, err := st.AckBindings(ctx, "m2", []string{"B4"}); err != nil || n != 0 {
		t.Errorf("m2 acks m1's B4 = %d, %v; want 0", n, err)
	}
	if n, err := st.AckBindings(ctx, "m1", []string{"B4", "B3", "B-unknown", "B-m2"}); err != nil || n != 2 {
		t.Errorf("AckBindings(m1, B4 B3 unknown B-m2) = %d, %v; want 2", n, err)
	}
	if n, _ := st.AckBindings(ctx, "m1", []string{"B4"}); n != 0 {
		t.Errorf("AckBindings again = %d, want 0", n)
	}
	if got := pending("m1", far, 10); slices.Contains(got, "k4") || slices.Contains(got, "k3") {
		t.Errorf("PendingBindings after the acks = %v, want neither k4 nor k3", got)
	}
	// A retry of an acknowledged event comes back acknowledged (nothing to deliver).
	if stored, isNew, _ := st.RecordEvent(ctx, event("k4", "Bx", "P1", "u1", at)); isNew || !stored.Acked || stored.BindingID != "B4" {
		t.Errorf("RecordEvent of acknowledged k4 = %+v, new %v", stored, isNew)
	}

	// Claims: replicas claiming at once take disjoint sets, oldest first.
	due := pending("", at, 10) // k2 k1 k0 k-m2 (oldest first; k3, k4 acknowledged)
	claimConcurrently(t, st, due)
	if got := pending("", at.Add(29*time.Second), 10); len(got) != 0 {
		t.Errorf("claimed bindings pending before their claim ends: %v", got)
	}
	if evs, _ := st.ClaimDue(ctx, at.Add(29*time.Second), at.Add(time.Minute), 10); len(evs) != 0 {
		t.Errorf("ClaimDue during the claims = %v, want none", eventKeys(evs))
	}
	// The claimer died: at the claim's end they are due again (k-later too, by then).
	if evs, _ := st.ClaimDue(ctx, at.Add(time.Minute), at.Add(2*time.Minute), 10); len(evs) != len(due)+1 {
		t.Errorf("ClaimDue after the claims ended = %v, want %v and k-later", eventKeys(evs), due)
	}
	if evs, _ := st.ClaimDue(ctx, far.Add(time.Hour), far.Add(2*time.Hour), 10); slices.ContainsFunc(evs, func(e hubstore.Event) bool { return e.Acked }) {
		t.Errorf("ClaimDue took acknowledged bindings: %v", eventKeys(evs))
	}
}

// claimConcurrently has 8 replicas claim at once (2 each, until at+30 s) and checks they took
// every due binding exactly once, each oldest first.
func claimConcurrently(t *testing.T, st hubstore.Store, due []string) {
	t.Helper()
	ctx := t.Context()
	var mu sync.Mutex
	var wg sync.WaitGroup
	claimed := map[string]int{}
	for range 8 {
		wg.Go(func() {
			evs, err := st.ClaimDue(ctx, at, at.Add(30*time.Second), 2)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			for i, e := range evs {
				claimed[e.Key]++
				if !e.NextAt.Equal(at.Add(30 * time.Second)) {
					t.Errorf("claimed %s with NextAt %v, want the claim's end", e.Key, e.NextAt)
				}
				if i > 0 && evs[i-1].At.After(e.At) {
					t.Errorf("ClaimDue returned %v, want oldest first", eventKeys(evs))
				}
			}
		})
	}
	wg.Wait()
	if len(claimed) != len(due) {
		t.Errorf("8 concurrent ClaimDue took %v, want each of %v once", claimed, due)
	}
	for k, n := range claimed {
		if n != 1 {
			t.Errorf("%s claimed %d times, want once", k, n)
		}
	}
}

// testClaimOrder: a claim takes the bindings due earliest first, then the oldest. New
// bindings (due at once) go before a backlog of retries due since, however old those are,
// and a claim reads only what it takes (the index order is the claim order).
func testClaimOrder(t *testing.T, st hubstore.Store) {
	ctx := t.Context()
	// Ten old bindings, published once and due again after their backoff, in reverse order of age.
	for i := range 10 {
		k := fmt.Sprint("old", i)
		if _, _, err := st.RecordEvent(ctx, event(k, "B"+k, "P1", "u1", at.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
		if err := st.MarkSent(ctx, k, true, at.Add(time.Minute+time.Duration(10-i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// Two new ones, recorded later, due at once.
	for i := range 2 {
		k := fmt.Sprint("new", i)
		if _, _, err := st.RecordEvent(ctx, event(k, "B"+k, "P1", "u1", at.Add(time.Minute+time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	now := at.Add(5 * time.Minute)
	claim := func(limit int) []string {
		t.Helper()
		evs, err := st.ClaimDue(ctx, now, now.Add(time.Hour), limit)
		if err != nil {
			t.Fatal(err)
		}
		return eventKeys(evs)
	}
	if got := claim(2); !slices.Equal(got, []string{"new0", "new1"}) {
		t.Errorf("first claim = %v, want the new bindings [new0 new1] before the retries", got)
	}
	// The retries by due time: old9 came due first (its backoff ended earliest). A batch is
	// returned oldest first.
	if got := claim(3); !slices.Equal(got, []string{"old7", "old8", "old9"}) {
		t.Errorf("second claim = %v, want the three due earliest [old7 old8 old9]", got)
	}
	if got := claim(100); len(got) != 7 {
		t.Errorf("third claim = %v, want the other 7", got)
	}
}

func testStaleAndDelete(t *testing.T, st hubstore.Store) {
	ctx := t.Context()
	day := 24 * time.Hour
	put := func(id string, created time.Time) {
		if _, err := st.PutPhoto(ctx, hubstore.Photo{ID: id, DeviceID: "m1", SHA256: "s" + id, CreatedAt: created}); err != nil {
			t.Fatal(err)
		}
	}
	// now = at; unscanned cutoff at-10m; scanned cutoff at-7d.
	put("old-noqr", at.Add(-time.Hour))        // never got a QR code, stored before the cutoff: stale
	put("new-noqr", at.Add(-time.Minute))      // too young
	put("qr-expired", at.Add(-time.Hour))      // its QR expired an hour ago: stale
	put("qr-live", at.Add(-time.Hour))         // its last QR is still valid
	put("scanned-young", at.Add(-day))         // scanned, within retention
	put("scanned-old", at.Add(-8*day))         // scanned, past retention: stale
	put("scanned-old-qr-live", at.Add(-8*day)) // scanned, past retention even with a live code
	st.AddScene(ctx, hubstore.Scene{Scene: "e1", Ticket: "t", PhotoID: "qr-expired", DeviceID: "m1", ExpiresAt: at.Add(-time.Hour)})
	st.AddScene(ctx, hubstore.Scene{Scene: "l1", Ticket: "t", PhotoID: "qr-live", DeviceID: "m1", ExpiresAt: at.Add(-time.Hour)})
	st.AddScene(ctx, hubstore.Scene{Scene: "l2", Ticket: "t", PhotoID: "qr-live", DeviceID: "m1", ExpiresAt: at.Add(time.Minute)})
	st.AddScene(ctx, hubstore.Scene{Scene: "l3", Ticket: "t", PhotoID: "scanned-old-qr-live", DeviceID: "m1", ExpiresAt: at.Add(time.Minute)})
	for i, id := range []string{"scanned-young", "scanned-old", "scanned-old-qr-live"} {
		st.RecordEvent(ctx, event(fmt.Sprint("k", i), fmt.Sprint("B", i), id, "u1", at))
	}
	stale, err := st.StalePhotos(ctx, at.Add(-10*time.Minute), at.Add(-7*day), 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"old-noqr", "qr-expired", "scanned-old", "scanned-old-qr-live"}
	if got := photoIDs(stale); !slices.Equal(got, want) {
		t.Errorf("StalePhotos = %v, want %v", got, want)
	}
	if two, _ := st.StalePhotos(ctx, at.Add(-10*time.Minute), at.Add(-7*day), 2); len(two) != 2 {
		t.Errorf("StalePhotos limit 2 = %d photos", len(two))
	}
	if err := st.DeletePhoto(ctx, "scanned-old-qr-live"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Photo(ctx, "scanned-old-qr-live"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("Photo after DeletePhoto = %v", err)
	}
	if _, err := st.Scene(ctx, "l3"); !errors.Is(err, hubstore.ErrNotFound) {
		t.Errorf("its scene after DeletePhoto = %v, want ErrNotFound", err)
	}
	if ok, _ := st.IsViewer(ctx, "scanned-old-qr-live", "u1"); ok {
		t.Error("its viewer survives DeletePhoto")
	}
	if err := st.DeletePhoto(ctx, "nope"); err != nil {
		t.Errorf("DeletePhoto of a missing photo = %v", err)
	}
}

func testPruneEvents(t *testing.T, st hubstore.Store) {
	ctx := t.Context()
	st.RecordEvent(ctx, event("old-acked", "B1", "P1", "u1", at.Add(-time.Hour)))
	st.RecordEvent(ctx, event("old-pending", "B2", "P1", "u1", at.Add(-time.Hour)))
	st.RecordEvent(ctx, event("new", "B3", "P1", "u1", at))
	st.AckBindings(ctx, "m1", []string{"B1"})
	if err := st.PruneEvents(ctx, at.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"old-acked", "old-pending"} {
		if _, err := st.Event(ctx, k); !errors.Is(err, hubstore.ErrNotFound) {
			t.Errorf("%s after prune = %v, want ErrNotFound", k, err)
		}
	}
	if _, err := st.Event(ctx, "new"); err != nil {
		t.Errorf("new event after prune = %v, want kept", err)
	}
}

func testSecret(t *testing.T, st hubstore.Store) {
	ctx := t.Context()
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for i := range 8 { // replicas starting together
		wg.Go(func() {
			v, err := st.Secret(ctx, "salt", func() []byte { return []byte(fmt.Sprint("v", i)) })
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got[string(v)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(got) != 1 {
		t.Errorf("concurrent first Secret calls got %v, want one value for all", got)
	}
	var first string
	for k := range got {
		first = k
	}
	v, err := st.Secret(ctx, "salt", func() []byte { return []byte("later") })
	if err != nil || string(v) != first {
		t.Errorf("Secret later = %q, %v; want %q", v, err, first)
	}
	if v, _ := st.Secret(ctx, "other", func() []byte { return []byte("o") }); string(v) != "o" {
		t.Errorf("another secret = %q", v)
	}
}

func testPing(t *testing.T, st hubstore.Store) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := st.Ping(ctx); err != nil {
		t.Errorf("Ping = %v", err)
	}
}

func equalEvent(a, b hubstore.Event) bool {
	return a.Key == b.Key && a.BindingID == b.BindingID && a.DeviceID == b.DeviceID && a.PhotoID == b.PhotoID &&
		a.User == b.User && bytes.Equal(a.Payload, b.Payload) && bytes.Equal(a.Reply, b.Reply) &&
		a.Published == b.Published && a.At.Equal(b.At)
}

func eventKeys(es []hubstore.Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Key)
	}
	return out
}

func photoIDs(ps []hubstore.Photo) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	slices.Sort(out)
	return out
}
