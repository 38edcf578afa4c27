package session

import (
	"context"
	"time"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// Compare, end-session and purge: the actions a button, a gesture, a tap or the fleet asks for.

// Compare puts the current photo beside an earlier one of the same session (side-by-side
// outfits); asked again, it steps back through the earlier photos.
func (e *Engine) Compare(ctx context.Context) { e.send(ctx, compareIn{}) }

// EndSession closes the open session now (the fleet's end-session command).
func (e *Engine) EndSession(ctx context.Context, reason string) { e.send(ctx, endIn{reason}) }

// PurgePhotos deletes every photo the engine holds — the open session's and those of closed
// sessions waiting out their grace — and takes any of them off the screen. It returns how many
// it purged; ok is false when ctx ended first. Photos kept for scanned shoppers are the store
// janitor's (store.Janitor.PurgeAll).
func (e *Engine) PurgePhotos(ctx context.Context) (n int, ok bool) {
	ch := make(chan int, 1)
	e.send(ctx, purgeIn(ch))
	select {
	case n := <-ch:
		return n, true
	case <-ctx.Done():
		return 0, false
	}
}

// onCompare shows the current photo beside the one before the photo compared last.
func (e *Engine) onCompare(now time.Time) {
	if e.sess == nil || e.sess.cur == nil || len(e.sess.photos) < 2 {
		return
	}
	switch e.st {
	case stReview, stAwaitQR, stQR, stBound, stCompare, stWelcome, stReady:
	default:
		return
	}
	ps := e.sess.photos
	cur := e.sess.cur
	// Step back from the photo compared last (or from the current one), skipping the current.
	from := len(ps)
	if e.st == stCompare {
		for i, p := range ps {
			if p.ID == e.screen.CompareID {
				from = i
			}
		}
	}
	var other *photoRec
	for i := from - 1; i >= 0 && other == nil; i-- {
		if ps[i] != cur {
			other = ps[i]
		}
	}
	if other == nil { // wrapped: start again from the newest
		for i := len(ps) - 1; i >= 0 && other == nil; i-- {
			if ps[i] != cur {
				other = ps[i]
			}
		}
	}
	e.enter(stCompare, time.Time{})
	e.show(display.Screen{Scene: display.SceneCompare, SessionID: e.sess.id, PhotoID: cur.ID, CompareID: other.ID})
}

// purgeAll deletes every photo the engine holds.
func (e *Engine) purgeAll(now time.Time) int {
	var all []*photoRec
	if e.sess != nil {
		all = append(all, e.sess.photos...)
	}
	all = append(all, e.closed...)
	n := 0
	for _, p := range all {
		if err := e.opts.Store.Delete(p.ID); err != nil {
			e.log.Error("purge photo", "photo_id", p.ID, "err", err)
			continue
		}
		n++
		e.stats.purged.Add(1)
		e.emit(Event{Type: wire.EventPhotoPurged, At: now, SessionID: p.SessionID, PhotoID: p.ID,
			Data: wire.PhotoPurged{Reason: wire.PurgeCommand}})
	}
	e.closed = nil
	if e.linger != nil { // its photo is gone: so is its code
		e.linger = nil
		e.enter(stIdle, time.Time{})
		e.show(display.Idle)
	}
	if e.sess != nil {
		e.sess.photos, e.sess.cur = nil, nil
		switch e.st {
		case stReview, stAwaitQR, stQR, stBound, stCompare, stCaptureFailed, stQRUnavailable, stCapturing:
			e.enter(stWelcome, time.Time{}) // no automatic photo after an operator's purge
			e.show(display.Screen{Scene: display.SceneWelcome, SessionID: e.sess.id})
		}
	}
	return n
}
