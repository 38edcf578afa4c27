// Package backoff is the one way fitmirror spaces out retries: the camera reopen, the MQTT
// reconnect, the WeChat "system busy" retry. Each wait doubles from Min up to Max; jitter takes
// up to a share of the wait off at random, so a fleet of mirrors that lost the network together
// does not come back in the same second, and no wait is ever longer than Max.
//
// It lives in internal/ because it is pure Go and both sides use it: device/ (cgo) may not
// import cloud/, and cloud/ may not import device/.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff computes retry waits. The zero value waits 500 ms, doubling to 30 s, with up to half
// of each wait taken off at random. A Backoff is not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	// Jitter is the share of each wait that may be taken off at random, 0..1; 0 means 0.5.
	Jitter float64
	// Rand returns numbers in [0,1); nil means math/rand/v2.
	Rand func() float64
	n    int
}

// Delay is the wait before retry number attempt (0 for the first), without counting it.
func (b Backoff) Delay(attempt int) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 500 * time.Millisecond
	}
	if hi <= 0 {
		hi = 30 * time.Second
	}
	if hi < lo {
		hi = lo
	}
	j := b.Jitter
	if j <= 0 || j > 1 {
		j = 0.5
	}
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return d - time.Duration(j*r()*float64(d))
}

// Next returns the wait before the next attempt and counts the attempt.
func (b *Backoff) Next() time.Duration {
	d := b.Delay(b.n)
	b.n++
	return d
}

// Reset starts again from Min (after a success).
func (b *Backoff) Reset() { b.n = 0 }

// Wait sleeps for Next() or until ctx ends; it returns ctx.Err() when ctx ended first.
func (b *Backoff) Wait(ctx context.Context) error { return Sleep(ctx, b.Next()) }

// Sleep waits d or until ctx ends; it returns ctx.Err() when ctx ended first.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
