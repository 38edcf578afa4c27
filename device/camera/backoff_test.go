package camera

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoffDoublesToMaxWithJitter(t *testing.T) {
	tests := []struct {
		name string
		b    Backoff
		want []time.Duration
	}{
		{"no jitter drawn", Backoff{Min: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return 0 }},
			[]time.Duration{100, 200, 400, 800, 1000, 1000}},
		{"full jitter drawn", Backoff{Min: 100 * time.Millisecond, Max: time.Second, Jitter: 0.5, Rand: func() float64 { return 0.999999 }},
			[]time.Duration{150, 300, 600, 1200, 1500, 1500}},
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

func TestBackoffResetAndRandomJitterBounds(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 8 * time.Second}
	b.Next()
	b.Next()
	b.Reset()
	for i := 0; i < 200; i++ {
		b.Reset()
		if d := b.Next(); d < time.Second || d > 1250*time.Millisecond {
			t.Fatalf("Next() after Reset = %v, want within [1s, 1.25s]", d)
		}
	}
}

func TestBackoffWaitStopsOnContext(t *testing.T) {
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
