package backoff

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNextDoublesToMax(t *testing.T) {
	tests := []struct {
		name string
		b    Backoff
		want []time.Duration // ms
	}{
		{"no jitter drawn", Backoff{Min: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return 0 }},
			[]time.Duration{100, 200, 400, 800, 1000, 1000}},
		{"most jitter drawn", Backoff{Min: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return 0.999999 }},
			[]time.Duration{50, 100, 200, 400, 500, 500}},
		{"a quarter of jitter", Backoff{Min: 100 * time.Millisecond, Max: time.Second, Jitter: 0.25, Rand: func() float64 { return 0.999999 }},
			[]time.Duration{75, 150, 300, 600, 750, 750}},
		{"zero value", Backoff{Rand: func() float64 { return 0 }},
			[]time.Duration{500, 1000, 2000, 4000, 8000, 16000, 30000, 30000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []time.Duration
			for range tt.want {
				got = append(got, tt.b.Next().Round(time.Millisecond)/time.Millisecond)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Next() sequence in ms (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDelayNeverPassesMaxAndSpreads(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Minute}
	for attempt := 0; attempt < 70; attempt++ { // no overflow far past the cap
		for i := 0; i < 50; i++ {
			if d := b.Delay(attempt); d <= 0 || d > time.Minute {
				t.Fatalf("Delay(%d) = %v, want in (0, 1m]", attempt, d)
			}
		}
	}
	lo := Backoff{Min: time.Second, Max: time.Minute, Rand: func() float64 { return 0 }}.Delay(3)
	hi := Backoff{Min: time.Second, Max: time.Minute, Rand: func() float64 { return 0.99 }}.Delay(3)
	if lo-hi < 3*time.Second {
		t.Errorf("Delay(3) spans %v..%v, want a spread of at least 3s (a fleet must not retry in step)", hi, lo)
	}
}

func TestResetStartsOver(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 8 * time.Second, Rand: func() float64 { return 0 }}
	b.Next()
	b.Next()
	b.Reset()
	if d := b.Next(); d != time.Second {
		t.Errorf("Next() after Reset = %v, want 1s", d)
	}
}

func TestWaitStopsOnContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Backoff{Min: 10 * time.Second, Rand: func() float64 { return 0 }}
		start := time.Now()
		if err := b.Wait(context.Background()); err != nil || time.Since(start) != 10*time.Second {
			t.Errorf("Wait = %v after %v, want nil after 10s", err, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start = time.Now()
		if err := b.Wait(ctx); err != context.DeadlineExceeded || time.Since(start) != 3*time.Second {
			t.Errorf("Wait(ctx ending at 3s) = %v after %v, want the deadline after 3s", err, time.Since(start))
		}
	})
}
