package kiosk

import (
	"net/http"
	"time"
)

// writeTimeout bounds one write to a page. A page that takes longer is dropped (the browser
// reconnects), and the write deadline also lifts any http.Server.WriteTimeout from the stream.
const writeTimeout = 30 * time.Second

// retryMillis asks EventSource to reconnect 1 s after a lost connection instead of its default ~3 s.
const retryMillis = "1000"

// serveEvents streams Screens as Server-Sent Events: the current Screen first, then one event per
// Show, with ": ping" comments in between; the air buttons' feedback (ShowGestures) goes as
// "event: gesture" in the same stream.
func (k *Kiosk) serveEvents(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx and friends: do not buffer the stream
	if r.Method == http.MethodHead {
		return
	}

	sub, ok := k.subscribe()
	if !ok {
		http.Error(w, "kiosk: closed", http.StatusServiceUnavailable)
		return
	}
	defer k.unsubscribe(sub)
	k.log.Debug("kiosk: page connected", "remote", r.RemoteAddr)
	defer k.log.Debug("kiosk: page disconnected", "remote", r.RemoteAddr)

	rc := http.NewResponseController(w)
	send := func(b []byte) bool {
		// ErrNotSupported (a test recorder, a wrapper without Unwrap) only loses the timeout.
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}

	ping := time.NewTicker(k.heartbeat)
	defer ping.Stop()
	buf := []byte("retry: " + retryMillis + "\n")
	// The current Screen first (subscribe queued it), before any gesture feedback.
	buf = append(append(append(buf, "data: "...), <-sub.ch...), "\n\n"...)
	if !send(buf) {
		return
	}
	buf = buf[:0]
	for {
		select {
		case <-r.Context().Done():
			return
		case <-k.done:
			return
		case b := <-sub.ch:
			if string(b) == string(reloadEvent) {
				buf = append(buf, "event: reload\ndata: {}\n\n"...)
				break
			}
			buf = append(buf, "data: "...)
			buf = append(buf, b...) // json.Marshal output holds no newline
			buf = append(buf, "\n\n"...)
		case <-sub.gestReady:
			for _, f := range k.takeGestures(sub) {
				buf = append(buf, "event: gesture\ndata: "...)
				buf = append(buf, f.data...)
				buf = append(buf, "\n\n"...)
			}
		case <-ping.C:
			buf = append(buf, ": ping\n\n"...)
		}
		if !send(buf) {
			return
		}
		buf = buf[:0]
	}
}
