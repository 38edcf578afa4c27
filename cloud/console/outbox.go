package console

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// The alert outbox. A notice is a row of the hub's database (one a channel), written in the
// transaction that flips its alert, leased to the replica that flipped it. That replica
// tries it, and between tries holds the lease past its next try; delivered, the row goes.
// When a replica dies (or stops) with a notice not delivered, its lease runs out (a stop
// ends it at once) and the next check of another replica claims the notice and goes on
// trying. So a notice is delivered once when nothing dies; a replica that dies after a
// channel took the notice but before the row went leaves it to be sent again: at least once.

// outboxClaims is how many orphaned notices one check takes over at most.
const outboxClaims = 100

// outboxRows are the outbox's rows of n: one a channel, leased to this replica.
func (a *Alerter) outboxRows(n notice, now time.Time) ([]hubstore.AlertNotice, error) {
	body, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("encode notice: %w", err)
	}
	rows := make([]hubstore.AlertNotice, len(a.channels))
	for i, ch := range a.channels {
		rows[i] = hubstore.AlertNotice{ID: n.ID + "-" + ch.name(), Channel: ch.name(), Body: body, CreatedAt: now,
			Owner: a.owner, LeaseUntil: now.Add(a.opts.Lease)}
	}
	return rows, nil
}

// resume claims the notices whose replica's lease ended and sends them.
func (a *Alerter) resume(ctx context.Context) {
	rows, err := a.st.ClaimAlertNotices(ctx, a.owner, a.now(), a.opts.Lease, outboxClaims)
	if err != nil {
		a.log.Warn("console: alerts: outbox", "err", err)
		return
	}
	for _, r := range rows {
		a.log.Info("console: alerts: taking over a notice not delivered", "notice", r.ID, "attempts", r.Attempts)
		a.start(ctx, r)
	}
}

// start sends the notice in the background unless this replica sends it already.
func (a *Alerter) start(ctx context.Context, r hubstore.AlertNotice) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.working[r.ID] {
		return
	}
	a.working[r.ID] = true
	a.wg.Go(func() {
		a.send(ctx, r)
		a.mu.Lock()
		delete(a.working, r.ID)
		a.mu.Unlock()
	})
}

// decode is the notice of a row with its channel.
func (a *Alerter) decode(r hubstore.AlertNotice) (channel, notice, error) {
	var n notice
	if err := json.Unmarshal(r.Body, &n); err != nil {
		return nil, n, fmt.Errorf("unreadable notice: %w", err)
	}
	for _, ch := range a.channels {
		if ch.name() == r.Channel {
			return ch, n, nil
		}
	}
	return nil, n, fmt.Errorf("channel %s is no longer configured", r.Channel)
}

// backoff is the wait after tries failed tries: Backoff, doubling, at most MaxBackoff.
func (a *Alerter) backoff(tries int) time.Duration {
	d := a.opts.Backoff
	for i := 1; i < tries && d < a.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, a.opts.MaxBackoff)
}

// send tries the notice of r until it is delivered, the attempts are spent, it is GiveUp old,
// another replica holds it, or ctx ends (a try under way is finished; the lease is then
// ended so that another replica goes on at once).
func (a *Alerter) send(ctx context.Context, r hubstore.AlertNotice) {
	bg := context.WithoutCancel(ctx)
	log := a.log.With("channel", r.Channel, "notice", r.ID)
	ch, n, err := a.decode(r)
	if err != nil {
		log.Error("console: alert notice dropped", "err", err)
		a.drop(bg, log, r.ID)
		return
	}
	log = log.With("mirror", n.Mirror.ID, "firing", n.Firing)
	var last error
	for tries := r.Attempts; ; {
		if tries > 0 {
			select {
			case <-time.After(a.backoff(tries)):
			case <-ctx.Done():
				log.Warn("console: alert not delivered yet: the hub is stopping, another replica goes on", "attempts", tries, "err", last)
				a.lease(bg, log, r.ID, tries, a.now())
				return
			}
		}
		// Hold the lease over this try: without it another replica may be sending.
		if !a.lease(bg, log, r.ID, tries, a.now().Add(a.opts.Lease)) {
			return
		}
		if last = ch.deliver(bg, n); last == nil {
			log.Info("console: alert sent", "attempts", tries+1)
			a.drop(bg, log, r.ID)
			return
		}
		tries++
		if (a.opts.Attempts > 0 && tries >= a.opts.Attempts) || a.now().Sub(r.CreatedAt) >= a.opts.GiveUp {
			log.Error("console: alert not delivered", "attempts", tries, "err", last)
			a.drop(bg, log, r.ID)
			return
		}
		log.Warn("console: alert not delivered yet", "attempts", tries, "err", last)
		if !a.lease(bg, log, r.ID, tries, a.now().Add(a.backoff(tries)+a.opts.Lease)) {
			return
		}
	}
}

// lease records tries and holds this replica's lease on the notice until until; false when
// it no longer holds it (or the database does not answer: the notice waits for the lease to
// end, then a replica claims it).
func (a *Alerter) lease(ctx context.Context, log *slog.Logger, id string, tries int, until time.Time) bool {
	ok, err := a.st.LeaseAlertNotice(ctx, id, a.owner, tries, until)
	switch {
	case err != nil:
		log.Warn("console: alerts: outbox", "err", err)
	case !ok:
		log.Info("console: alerts: another replica took the notice over")
	}
	return ok && err == nil
}

// drop takes the notice out of the outbox.
func (a *Alerter) drop(ctx context.Context, log *slog.Logger, id string) {
	if err := a.st.DeleteAlertNotice(ctx, id, a.owner); err != nil {
		log.Warn("console: alerts: outbox", "err", err)
	}
}
