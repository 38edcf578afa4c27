package session

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// TestManualClockDrivesTheEngine: on a ManualClock the engine's events carry the clock's time
// and its timeouts (the countdown, the goodbye) come when the clock is set past them, however
// little wall time passes; a timeout already due when an input arrives is handled before it.
func TestManualClockDrivesTheEngine(t *testing.T) {
	t0 := time.Unix(0, 0).Add(5 * time.Second)
	clock := NewManualClock(t0)
	var (
		mu     sync.Mutex
		events []Event
	)
	cfg := Config{Countdown: 3, Goodbye: time.Hour, UnboundGrace: time.Minute} // no automatic photo
	e, err := New(Options{Config: cfg, Camera: &fakeCamera{}, Store: &memStore{m: map[string][]byte{}},
		Provider: &fakeProvider{}, Screen: &screens{}, Clock: clock,
		Logger: slog.New(slog.DiscardHandler), Events: func(ev Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	snap := func(at time.Duration) Snapshot {
		t.Helper()
		clock.Set(t0.Add(at))
		s, ok := e.Snapshot(ctx)
		if !ok {
			t.Fatal("no snapshot")
		}
		return s
	}

	e.Observe(ctx, Observation{At: t0, Faces: 1, Change: Entered})
	e.Trigger(ctx, "test")
	if s := snap(0); s.Screen.Countdown != 3 {
		t.Fatalf("after the trigger: %+v, want countdown 3", s)
	}
	if s := snap(999 * time.Millisecond); s.Screen.Countdown != 3 {
		t.Errorf("999 ms later: countdown %d, want still 3", s.Screen.Countdown)
	}
	if s := snap(time.Second); s.Screen.Countdown != 2 {
		t.Errorf("1 s later: countdown %d, want 2", s.Screen.Countdown)
	}

	// Left at 1.5 s; then the clock jumps past the hour of goodbye and a new shopper arrives
	// with the same input: the goodbye ends first, at the clock's time, then the session opens.
	clock.Set(t0.Add(1500 * time.Millisecond))
	e.Observe(ctx, Observation{At: t0.Add(1500 * time.Millisecond), Change: Left})
	if s := snap(1500 * time.Millisecond); s.State != "goodbye" {
		t.Fatalf("after Left: state %q, want goodbye", s.State)
	}
	clock.Set(t0.Add(2 * time.Hour))
	e.Observe(ctx, Observation{At: t0.Add(2 * time.Hour), Faces: 1, Change: Entered})
	if s := snap(2 * time.Hour); s.State != "welcome" || s.SessionID == "" {
		t.Errorf("a shopper after the goodbye: %+v, want a welcome for a new session", s)
	}

	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, ev := range events {
		if ev.Type == wire.EventSessionOpened || ev.Type == wire.EventSessionClosed {
			got = append(got, ev.Type+"@"+ev.At.Sub(t0).String())
		}
	}
	want := []string{"session.opened@0s", "session.closed@1.5s", "session.opened@2h0m0s"}
	if len(got) != len(want) {
		t.Fatalf("session events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("session events %v, want %v (on the manual clock's time)", got, want)
			break
		}
	}
}

// TestManualClockAt: a wait receives once the clock reaches its time, at once when it is
// there already, never after stop; the clock does not go back.
func TestManualClockAt(t *testing.T) {
	t0 := time.Unix(100, 0)
	c := NewManualClock(t0)
	ch, _ := c.At(t0.Add(time.Second))
	stopped, stop := c.At(t0.Add(time.Second))
	stop()
	c.Set(t0.Add(999 * time.Millisecond))
	select {
	case <-ch:
		t.Fatal("the wait fired before its time")
	default:
	}
	c.Set(t0.Add(2 * time.Second))
	select {
	case got := <-ch:
		if !got.Equal(t0.Add(2 * time.Second)) {
			t.Errorf("the wait received %v, want the clock's time", got)
		}
	default:
		t.Fatal("the wait did not fire when the clock passed its time")
	}
	select {
	case <-stopped:
		t.Error("a stopped wait fired")
	default:
	}
	c.Set(t0)
	if !c.Now().Equal(t0.Add(2 * time.Second)) {
		t.Errorf("the clock went back to %v", c.Now())
	}
	now, _ := c.At(t0)
	select {
	case <-now:
	default:
		t.Error("a wait for a time already passed did not fire at once")
	}
}

// TestTimeoutDueBeforeInputComesFirst: when the clock has passed a timeout by the time an input
// arrives, the timeout is handled first, so replay does not depend on which of two ready
// channels the engine's select picks. A trigger (ignored during the countdown) keeps the engine
// busy while the clock passes the countdown's first second, so the timer and the snapshot may be
// ready together; the order is checked 50 times.
func TestTimeoutDueBeforeInputComesFirst(t *testing.T) {
	for i := 0; i < 50; i++ {
		t0 := time.Unix(0, 0)
		clock := NewManualClock(t0)
		e, err := New(Options{Config: Config{Countdown: 3}, Camera: &fakeCamera{}, Store: &memStore{m: map[string][]byte{}},
			Provider: &fakeProvider{}, Screen: &screens{}, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		e.Observe(ctx, Observation{At: t0, Faces: 1, Change: Entered})
		e.Trigger(ctx, "test")
		e.Snapshot(ctx) // the countdown stands at 3 until t0+1s
		e.Trigger(ctx, "busy")
		clock.Set(t0.Add(time.Second))
		s, _ := e.Snapshot(ctx)
		cancel()
		<-done
		if s.Screen.Countdown != 2 {
			t.Fatalf("run %d: the clock passed the countdown's first second before the snapshot, which shows %d, want 2", i, s.Screen.Countdown)
		}
	}
}
