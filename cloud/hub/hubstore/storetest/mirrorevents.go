package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// RunMirrorEvents runs the cases of a mirror event store: an event is kept once however
// often it arrives, a timeline is newest first, and the funnel counts a scripted day.
func RunMirrorEvents(t *testing.T, st interface {
	hubstore.Store
	hubstore.MirrorEventStore
}) {
	ctx := t.Context()
	day1 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	ev := func(dev string, seq uint64, typ string, at time.Time) hubstore.MirrorEvent {
		return hubstore.MirrorEvent{Device: dev, Seq: seq, ID: fmt.Sprintf("ID%d", seq), Type: typ, At: at, SessionID: "S", PhotoID: "P", Data: []byte(`{}`)}
	}
	script := []hubstore.MirrorEvent{
		ev("m1", 1, "session.opened", day1),
		ev("m1", 2, "qr.shown", day1.Add(time.Minute)),
		ev("m1", 3, "qr.shown", day1.Add(2*time.Minute)),
		ev("m1", 4, "photo.bound", day1.Add(3*time.Minute)),
		ev("m2", 1, "qr.shown", day1.Add(time.Hour)),
		ev("m1", 5, "qr.shown", day2),
	}
	for i, e := range script {
		if isNew, err := st.AddMirrorEvent(ctx, e); err != nil || !isNew {
			t.Fatalf("AddMirrorEvent %d = %v, %v", i, isNew, err)
		}
	}
	again := script[3]
	again.Type = "qr.shown" // a resend (or another replica) with the same seq: kept once, as first stored
	if isNew, err := st.AddMirrorEvent(ctx, again); err != nil || isNew {
		t.Errorf("AddMirrorEvent of a stored seq = %v, %v; want not new", isNew, err)
	}
	// Two scans handled by the hub on day 1 for m1.
	for i, at := range []time.Time{day1.Add(150 * time.Second), day1.Add(170 * time.Second)} {
		e := event(fmt.Sprintf("scan%d", i), fmt.Sprintf("B%d", i), "P", "u", at)
		if _, _, err := st.RecordEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tl, err := st.MirrorEvents(ctx, "m1", 3)
	if err != nil || len(tl) != 3 || tl[0].Seq != 5 || tl[2].Seq != 3 || tl[1].Type != "photo.bound" || !tl[1].At.Equal(day1.Add(3*time.Minute)) {
		t.Errorf("MirrorEvents(m1, 3) = %+v, %v; want seq 5, 4, 3", tl, err)
	}
	rows, err := st.Funnel(ctx, day1.Add(-time.Hour), day2.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []hubstore.FunnelRow{
		{Device: "m1", Day: "2026-12-06", QRShown: 2, Scanned: 2, Bound: 1},
		{Device: "m2", Day: "2026-12-06", QRShown: 1},
		{Device: "m1", Day: "2026-12-07", QRShown: 1},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("Funnel = %+v\nwant     %+v", rows, want)
	}
	if rows, _ := st.Funnel(ctx, day2, day2.Add(time.Hour)); len(rows) != 1 || rows[0].Day != "2026-12-07" {
		t.Errorf("Funnel of day 2 = %+v", rows)
	}
	if err := st.PruneMirrorEvents(ctx, day2); err != nil {
		t.Fatal(err)
	}
	if tl, _ := st.MirrorEvents(ctx, "m1", 10); len(tl) != 1 || tl[0].Seq != 5 {
		t.Errorf("after PruneMirrorEvents: %+v, want seq 5 only", tl)
	}
}
