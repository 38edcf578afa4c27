package kiosk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fitmirror/fitmirror/display"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// eventStream is a test client of /events.
type eventStream struct {
	t      *testing.T
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

func openEvents(t *testing.T, srv *httptest.Server) *eventStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatalf("Get(%q): %v", "/events", err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("Get(%q) status = %d, want 200", "/events", resp.StatusCode)
	}
	for header, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-store",
		"X-Accel-Buffering": "no",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("Get(%q) %s = %q, want %q", "/events", header, got, want)
		}
	}
	es := &eventStream{t: t, resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(es.close)
	return es
}

func (es *eventStream) close() {
	es.cancel()
	es.resp.Body.Close()
}

// next returns the next Screen, skipping comments and other fields.
func (es *eventStream) next() display.Screen {
	es.t.Helper()
	s, err := readEvent(es.r)
	if err != nil {
		es.t.Fatalf("reading /events: %v", err)
	}
	return s
}

// readEvent reads one Server-Sent Event that carries data and decodes it as a Screen.
func readEvent(r *bufio.Reader) (display.Screen, error) {
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return display.Screen{}, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if data == nil {
				continue // a comment-only or retry-only block
			}
			var s display.Screen
			if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &s); err != nil {
				return display.Screen{}, fmt.Errorf("decode %q: %w", data, err)
			}
			return s, nil
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry: "):
		default:
			return display.Screen{}, fmt.Errorf("unexpected line %q", line)
		}
	}
}

// waitSubscribers waits until k has n open streams.
func waitSubscribers(t *testing.T, k *Kiosk, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for k.subscribers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("subscribers() = %d, want %d", k.subscribers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A session as the engine shows it.
func sessionScreens() []display.Screen {
	exp := time.Date(2026, 11, 20, 10, 5, 0, 123e6, time.UTC)
	return []display.Screen{
		{Scene: display.SceneWelcome, SessionID: "01JD0000000000000000000001"},
		{Scene: display.SceneCountdown, SessionID: "01JD0000000000000000000001", Countdown: 3},
		{Scene: display.SceneCountdown, SessionID: "01JD0000000000000000000001", Countdown: 2},
		{Scene: display.SceneCountdown, SessionID: "01JD0000000000000000000001", Countdown: 1},
		{Scene: display.SceneQR, SessionID: "01JD0000000000000000000001", PhotoID: "01JD0000000000000000000002",
			QR: &display.QR{Content: "http://192.168.1.20:8080/p/01JD0000000000000000000002?k=Zm9vYmFy", ExpiresAt: exp}},
		{Scene: display.SceneBound, SessionID: "01JD0000000000000000000001", PhotoID: "01JD0000000000000000000002"},
		{Scene: display.SceneGoodbye, SessionID: "01JD0000000000000000000001"},
		display.Idle,
	}
}

func TestEventsDeliverSequence(t *testing.T) {
	k := New(Options{Logger: discardLogger()})
	srv := httptest.NewServer(k.Handler())
	t.Cleanup(srv.Close)

	seq := sessionScreens()
	const lateAfter = 4 // the late client connects after the countdown

	early := openEvents(t, srv)
	if got := early.next(); !cmp.Equal(got, display.Idle) {
		t.Fatalf("first event = %+v, want the current screen %+v", got, display.Idle)
	}
	for _, s := range seq[:lateAfter] {
		k.Show(s)
	}
	late := openEvents(t, srv)
	if got, want := late.next(), seq[lateAfter-1]; !cmp.Equal(got, want) {
		t.Fatalf("late client's first event = %+v, want the current screen %+v", got, want)
	}
	waitSubscribers(t, k, 2)
	for _, s := range seq[lateAfter:] {
		k.Show(s)
	}

	var got []display.Screen
	for range seq {
		got = append(got, early.next())
	}
	if diff := cmp.Diff(seq, got); diff != "" {
		t.Errorf("early client's events mismatch (-want +got):\n%s", diff)
	}
	got = nil
	for range seq[lateAfter:] {
		got = append(got, late.next())
	}
	if diff := cmp.Diff(seq[lateAfter:], got); diff != "" {
		t.Errorf("late client's events mismatch (-want +got):\n%s", diff)
	}

	// A client that goes away is removed, and its handler returns.
	early.close()
	waitSubscribers(t, k, 1)
	late.close()
	waitSubscribers(t, k, 0)

	// Show still works with nobody listening; the next client gets the newest screen.
	k.Show(seq[0])
	if got := openEvents(t, srv).next(); !cmp.Equal(got, seq[0]) {
		t.Errorf("first event = %+v, want %+v", got, seq[0])
	}
}

func TestEventsWireFormat(t *testing.T) {
	k := New(Options{Logger: discardLogger()})
	srv := httptest.NewServer(k.Handler())
	t.Cleanup(srv.Close)
	es := openEvents(t, srv)

	exp := time.Date(2026, 11, 20, 10, 0, 0, 123e6, time.UTC)
	k.Show(display.Screen{Scene: display.SceneQR, QR: &display.QR{Content: "a\nb <&>", ExpiresAt: exp}})
	want := "retry: 1000\n" +
		`data: {"scene":"idle"}` + "\n\n" +
		`data: {"scene":"qr","qr":{"content":"a\nb \u003c\u0026\u003e","expires_at":"2026-11-20T10:00:00.123Z"}}` + "\n\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(es.r, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("/events stream = %q, want %q", got, want)
	}
}

// TestEventsTimestampsInContractFormat: the stream's times are RFC 3339 with milliseconds in
// UTC (docs/contracts.md), also for a time on a whole second, with nanoseconds or in a zone.
func TestEventsTimestampsInContractFormat(t *testing.T) {
	k := New(Options{Logger: discardLogger()})
	srv := httptest.NewServer(k.Handler())
	t.Cleanup(srv.Close)
	es := openEvents(t, srv)

	exp := time.Date(2026, 11, 20, 18, 0, 0, 0, time.FixedZone("CST", 8*3600))
	k.Show(display.Screen{Scene: display.SceneQR, QR: &display.QR{Content: "q", ExpiresAt: exp, IssuedAt: exp.Add(-time.Minute + 987654321)}})
	want := "retry: 1000\n" +
		`data: {"scene":"idle"}` + "\n\n" +
		`data: {"scene":"qr","qr":{"content":"q","expires_at":"2026-11-20T10:00:00.000Z","issued_at":"2026-11-20T09:59:00.987Z"}}` + "\n\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(es.r, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("/events stream = %q, want %q", got, want)
	}
}

func TestEventsAfterClose(t *testing.T) {
	k := New(Options{Logger: discardLogger()})
	srv := httptest.NewServer(k.Handler())
	t.Cleanup(srv.Close)
	es := openEvents(t, srv)
	es.next()
	if err := k.Close(); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
	if _, err := readEvent(es.r); err != io.EOF {
		t.Errorf("reading an open stream after Close: err = %v, want %v", err, io.EOF)
	}
	waitSubscribers(t, k, 0)
	resp, err := srv.Client().Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("Get(%q) after Close = %d, want %d", "/events", resp.StatusCode, http.StatusServiceUnavailable)
	}
	k.Close() // twice is fine
}

// fakeStream is an http.ResponseWriter for serveEvents inside a synctest bubble. While blocked is
// true, Write waits for unblock, like a browser that stopped reading.
type fakeStream struct {
	header  http.Header
	unblock chan struct{}

	mu      sync.Mutex
	blocked bool
	buf     bytes.Buffer
}

func newFakeStream(blocked bool) *fakeStream {
	return &fakeStream{header: http.Header{}, unblock: make(chan struct{}), blocked: blocked}
}

func (f *fakeStream) Header() http.Header { return f.header }
func (f *fakeStream) WriteHeader(int)     {}
func (f *fakeStream) Flush()              {}

func (f *fakeStream) Write(b []byte) (int, error) {
	f.mu.Lock()
	blocked := f.blocked
	f.mu.Unlock()
	if blocked {
		<-f.unblock
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.Write(b)
}

func (f *fakeStream) release() {
	f.mu.Lock()
	f.blocked = false
	f.mu.Unlock()
	close(f.unblock)
}

func (f *fakeStream) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.String()
}

// screens decodes the data events written so far.
func (f *fakeStream) screens(t *testing.T) []display.Screen {
	t.Helper()
	r := bufio.NewReader(strings.NewReader(f.String()))
	var out []display.Screen
	for {
		s, err := readEvent(r)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
}

// serve runs serveEvents for f until the returned cancel is called.
func serve(k *Kiosk, f *fakeStream) (cancel func()) {
	ctx, cancelCtx := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, "GET", "/events", nil)
	done := make(chan struct{})
	go func() {
		k.Handler().ServeHTTP(f, req)
		close(done)
	}()
	return func() { cancelCtx(); <-done }
}

// A page that stops reading must not hold up Show; once it reads again it gets the newest screens,
// in order, and always the last one.
func TestEventsSlowPageDropsOldest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := New(Options{Logger: discardLogger()})
		f := newFakeStream(true)
		stop := serve(k, f)
		defer stop()
		synctest.Wait() // the handler is stuck writing the current screen

		const n = 3 * queueSize
		var all []display.Screen
		for i := 1; i <= n; i++ {
			s := display.Screen{Scene: display.SceneCountdown, Countdown: i}
			all = append(all, s)
			k.Show(s) // must not block: the test would deadlock
		}
		f.release()
		synctest.Wait()

		want := append([]display.Screen{display.Idle}, all[n-queueSize:]...)
		if diff := cmp.Diff(want, f.screens(t)); diff != "" {
			t.Errorf("events of a page that fell behind mismatch (-want +got):\n%s", diff)
		}
		if got := k.subscribers(); got != 1 {
			t.Errorf("subscribers() = %d, want 1", got)
		}
		stop()
		if got := k.subscribers(); got != 0 {
			t.Errorf("subscribers() after the page left = %d, want 0", got)
		}
	})
}

func TestEventsHeartbeat(t *testing.T) {
	tests := []struct {
		heartbeat time.Duration
		want      time.Duration
	}{
		{0, 15 * time.Second},
		{-time.Second, 15 * time.Second},
		{2 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.heartbeat.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := Options{Logger: discardLogger(), Heartbeat: tt.heartbeat}
				k := New(opts)
				if opts.Heartbeat != tt.heartbeat {
					t.Errorf("New changed Options.Heartbeat to %v", opts.Heartbeat)
				}
				f := newFakeStream(false)
				stop := serve(k, f)
				defer stop()

				synctest.Wait()
				pings := func() int { return strings.Count(f.String(), ": ping\n\n") }
				time.Sleep(tt.want - time.Millisecond)
				synctest.Wait()
				if got := pings(); got != 0 {
					t.Errorf("pings after %v = %d, want 0", tt.want-time.Millisecond, got)
				}
				time.Sleep(time.Millisecond)
				synctest.Wait()
				if got := pings(); got != 1 {
					t.Errorf("pings after %v = %d, want 1", tt.want, got)
				}
				k.Show(display.Screen{Scene: display.SceneWelcome})
				time.Sleep(2 * tt.want)
				synctest.Wait()
				if got := pings(); got != 3 {
					t.Errorf("pings after %v = %d, want 3", 3*tt.want, got)
				}
				want := []display.Screen{display.Idle, {Scene: display.SceneWelcome}}
				if diff := cmp.Diff(want, f.screens(t)); diff != "" {
					t.Errorf("events mismatch (-want +got):\n%s", diff)
				}
			})
		})
	}
}
