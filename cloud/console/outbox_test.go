package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// A notice survives the replica that was retrying it. Two replicas share one database; the
// first flips the alert and retries it while the webhook fails, then stops: cleanly (its
// context cancelled: its lease ends at once) or as if killed (its database gone first: its
// lease runs out). The webhook recovers, and the second replica delivers the notice once,
// the same notice, in the crash case only after the lease ended.
func TestAlertTakenOverFromStoppedReplica(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "stop", true: "crash"}[crash], func(t *testing.T) {
			onEachDatabase(t, func(t *testing.T, open func() (sharedStore, error)) { takeOver(t, crash, open) })
		})
	}
}

func takeOver(t *testing.T, crash bool, open func() (sharedStore, error)) {
	clk := newClock()
	rcv := newReceiver(t, 1<<30, false) // failing until recovered
	fleet := console.NewFleet("mirror", clk.Now)
	fleet.Handle("mirror/m1/status", []byte(`{"state":"offline","reason":"connection lost"}`))
	list := func(context.Context) ([]console.Mirror, error) { return fleet.Mirrors(90*time.Second, nil), nil }
	var stores []sharedStore
	var replicas []*console.Alerter
	for range 2 {
		st, err := open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		a, err := console.NewAlerter(console.AlertOptions{WebhookURL: rcv.srv.URL, After: 5 * time.Minute, Every: time.Hour,
			Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Lease: time.Minute}, st, list, nil, clk.Now)
		if err != nil {
			t.Fatal(err)
		}
		stores, replicas = append(stores, st), append(replicas, a)
	}
	first, second := replicas[0], replicas[1]
	ctx, stop := context.WithCancel(t.Context())
	first.Check(ctx)
	second.Check(t.Context())
	clk.Add(5 * time.Minute)
	stopped := make(chan struct{})
	go func() { first.Run(ctx); close(stopped) }() // its first check flips the alert
	waitFor(t, "the first replica's tries", func() bool { return rcv.count() >= 3 })
	if crash {
		stores[0].Close()
	}
	stop()
	<-stopped // its sends have returned
	tried := rcv.count()
	second.Check(t.Context())
	if crash { // the dead replica's lease holds: nobody sends yet
		time.Sleep(100 * time.Millisecond)
		if tries := rcv.count(); len(rcv.got()) != 0 || tries != tried {
			t.Fatalf("within the dead replica's lease: %d tries (%d before), %d delivered; want it left alone", tries, tried, len(rcv.got()))
		}
		clk.Add(2 * time.Minute)
	}
	rcv.recover()
	second.Check(t.Context())
	waitFor(t, "the notice from the second replica", func() bool { return len(rcv.got()) >= 1 })
	second.Check(t.Context())
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
	got := rcv.got()
	if len(got) != 1 || got[0]["event"] != "alert" || got[0]["mirror"] != "m1" ||
		!strings.Contains(got[0]["text"].(string), "m1 is offline since 2026-12-07 10:00:00 UTC (connection lost)") {
		t.Fatalf("delivered %v, want the one alert of m1", got)
	}
	// The mirror recovers: the second replica sends the recovery, once.
	fleet.Handle("mirror/m1/status", []byte(`{"state":"`+wire.StateOnline+`"}`))
	fleet.Handle("mirror/m1/telemetry", []byte(`{"fps":15}`))
	second.Check(t.Context())
	waitFor(t, "the recovery", func() bool { return len(rcv.got()) >= 2 })
	time.Sleep(100 * time.Millisecond)
	if got := rcv.got(); len(got) != 2 || got[1]["event"] != "recovery" {
		t.Errorf("delivered %v, want the alert and one recovery", got)
	}
}
