package fleet

import (
	"context"
	"time"
)

// backoff is the reconnect delay: it doubles from min per failed attempt up to max, and each
// delay is drawn uniformly from its upper half, so mirrors that lost the broker together do
// not all come back in the same second.
type backoff struct {
	min, max time.Duration
	rand     func() float64
}

// delay is the wait before retry number attempt (0 for the first retry).
func (b backoff) delay(attempt int) time.Duration {
	d := b.min
	for i := 0; i < attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	half := d / 2
	return half + time.Duration(b.rand()*float64(d-half))
}

// sleep waits d or until ctx ends; it reports whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
