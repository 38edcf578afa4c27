package httpguard

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serve runs srv on a loopback listener wrapped by LimitPerClient(max).
func serve(t *testing.T, srv *http.Server, max int, refused *atomic.Int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(LimitPerClient(ln, max, func(string) { refused.Add(1) }))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// closedWithin reports whether the server closed c within d (a read ends in EOF or reset).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// The attack of issue 14: thousands of idle connections from one client. At most max stay
// open, the rest are closed at once, and the ones held are closed after ReadHeaderTimeout
// (nothing sent) or IdleTimeout (keep-alive after a request); then the client is served again.
func TestManyIdleConnections(t *testing.T) {
	const max, attack = 16, 1000
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), false)
	srv.ReadHeaderTimeout, srv.IdleTimeout = 500*time.Millisecond, 500*time.Millisecond // short for the test
	var refused atomic.Int64
	addr := serve(t, srv, max, &refused)

	conns := make([]net.Conn, 0, attack)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < attack; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	// Every connection past the cap is closed by the server right away.
	open := 0
	for _, c := range conns {
		if !closedWithin(c, 50*time.Millisecond) {
			open++
		}
	}
	if open > max {
		t.Errorf("%d of %d idle connections from one client stay open, want at most %d", open, attack, max)
	}
	// (Held connections may time out while the flood goes on, freeing places: most, not
	// exactly attack-max, are refused.)
	if refused.Load() < attack/2 {
		t.Errorf("%d connections refused, want most of %d", refused.Load(), attack)
	}
	// The held ones are closed after ReadHeaderTimeout.
	for i, c := range conns {
		if !closedWithin(c, 3*time.Second) {
			t.Fatalf("idle connection %d still open after ReadHeaderTimeout", i)
		}
	}
	// Keep-alive: a request, then silence: closed after IdleTimeout.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request after the flood: %v %v", resp, err)
	}
	resp.Body.Close()
	if !closedWithin(c, 3*time.Second) {
		t.Error("an idle keep-alive connection stays open past IdleTimeout")
	}
}

func TestNewServerTimeouts(t *testing.T) {
	for _, streams := range []bool{false, true} {
		s := NewServer(http.NotFoundHandler(), streams)
		if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.IdleTimeout <= 0 {
			t.Errorf("streams=%v: timeouts %v/%v/%v, want all set", streams, s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout)
		}
		if (s.WriteTimeout > 0) == streams {
			t.Errorf("streams=%v: WriteTimeout %v", streams, s.WriteTimeout)
		}
	}
}

func TestLoopbackHost(t *testing.T) {
	h := LoopbackHost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for host, want := range map[string]int{
		"127.0.0.1:8080": 200, "localhost:8080": 200, "[::1]:8080": 200, "localhost": 200,
		"evil.example:8080": 421, "evil.example": 421, "127.0.0.1.nip.io:8080": 421, "192.168.1.5:8080": 421, "": 421,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %q = %d, want %d", host, w.Code, want)
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimiter(2, 5) // 2/s, burst 5
	l.now = func() time.Time { return now }
	n := 0
	for i := 0; i < 20; i++ {
		if ok, _ := l.Allow("a"); ok {
			n++
		}
	}
	if n != 5 {
		t.Errorf("burst: %d allowed, want 5", n)
	}
	ok, wait := l.Allow("a")
	if ok || wait <= 0 || wait > time.Second {
		t.Errorf("over the limit: %v wait %v, want refused with a wait up to 500ms", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another key is limited by a's requests")
	}
	now = now.Add(time.Second)
	n = 0
	for i := 0; i < 5; i++ {
		if ok, _ := l.Allow("a"); ok {
			n++
		}
	}
	if n != 2 {
		t.Errorf("after 1 s: %d allowed, want 2", n)
	}
	h := Limit(l, func(*http.Request) string { return "a" }, http.NotFoundHandler())
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 429 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "rate_limited") {
		t.Errorf("limited request = %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}

func TestQuietLog(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	q := &QuietLog{Log: slog.New(slog.NewTextHandler(&buf, nil)), Interval: time.Minute, now: func() time.Time { return now }}
	for i := 0; i < 1000; i++ {
		q.Warn("1.2.3.4", "bad token")
	}
	if n := strings.Count(buf.String(), "bad token"); n != 1 {
		t.Errorf("a burst of 1000 logged %d lines, want 1", n)
	}
	now = now.Add(2 * time.Minute)
	q.Warn("1.2.3.4", "bad token")
	if !strings.Contains(buf.String(), "suppressed=999") {
		t.Errorf("the next record does not count the suppressed ones:\n%s", buf.String())
	}
}
