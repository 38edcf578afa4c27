package camera

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff spaces out retries: each wait doubles from Min up to Max, with up to Jitter of
// random extra (so a fleet that lost its network together does not retry in step). Reset
// after a success. The zero value waits 500 ms, doubling to 30 s, with 25% jitter.
type Backoff struct {
	Min, Max time.Duration
	Jitter   float64        // fraction of the wait added at random, 0..1; 0 = 0.25
	Rand     func() float64 // [0,1) source; nil = math/rand/v2
	n        int
}

// Next returns the wait before the next attempt and counts the attempt.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 500 * time.Millisecond
	}
	if hi <= 0 {
		hi = 30 * time.Second
	}
	j := b.Jitter
	if j <= 0 || j > 1 {
		j = 0.25
	}
	d := lo
	for i := 0; i < b.n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	b.n++
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return d + time.Duration(j*r()*float64(d))
}

// Reset starts again from Min.
func (b *Backoff) Reset() { b.n = 0 }

// Wait sleeps for Next() or until ctx ends; it returns ctx.Err() when ctx ended first.
func (b *Backoff) Wait(ctx context.Context) error {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
