// Package httpguard hardens the project's HTTP listeners: servers with read and idle
// timeouts, a cap on connections per client address, the security headers of pages shown to
// shoppers, per-client rate limits, a Host check against DNS rebinding on loopback listeners,
// and a log that reports a burst of bad requests once.
package httpguard

import (
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/internal/httpjson"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// Timeouts of every server of the project.
const (
	// ReadHeaderTimeout bounds the wait for a request's headers, the first one of a new
	// connection included: a connection that sends nothing is closed after it.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout = 60 * time.Second
	// IdleTimeout closes a keep-alive connection that sends no further request.
	IdleTimeout = 60 * time.Second
	// WriteTimeout bounds writing a response of a server without long-lived streams.
	WriteTimeout = 60 * time.Second
)

// NewServer returns a server for h with the project's timeouts. streams is set for servers
// with long-lived responses (the kiosk's event stream), which get no WriteTimeout.
func NewServer(h http.Handler, streams bool) *http.Server {
	s := &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		IdleTimeout: IdleTimeout, MaxHeaderBytes: 64 << 10}
	if !streams {
		s.WriteTimeout = WriteTimeout
	}
	return s
}

// LimitPerClient wraps ln so that one client address (IP) holds at most max open
// connections; a further connection is closed as soon as it is accepted. onRefuse (may be
// nil) is called for each refused connection.
func LimitPerClient(ln net.Listener, max int, onRefuse func(ip string)) net.Listener {
	return &perClient{Listener: ln, max: max, open: map[string]int{}, onRefuse: onRefuse}
}

type perClient struct {
	net.Listener
	max      int
	onRefuse func(string)
	mu       sync.Mutex
	open     map[string]int
}

func (l *perClient) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr().String())
		l.mu.Lock()
		if l.open[ip] >= l.max {
			l.mu.Unlock()
			c.Close()
			if l.onRefuse != nil {
				l.onRefuse(ip)
			}
			continue
		}
		l.open[ip]++
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *perClient) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// PageHeaders sets the headers of a page shown to shoppers: it may not be framed by another
// site (clickjacking), its content type is not sniffed, and no Referer leaves it.
func PageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetPageHeaders(w.Header())
		next.ServeHTTP(w, r)
	})
}

// SetPageHeaders sets PageHeaders' headers on h.
func SetPageHeaders(h http.Header) {
	if h.Get("Content-Security-Policy") == "" {
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// LoopbackHost refuses (421 Misdirected Request) a request whose Host is not a loopback name
// (localhost, 127.0.0.1, ::1, any port): a page on another site that rebinds its own name to
// 127.0.0.1 (DNS rebinding) cannot reach a loopback listener through the shopper's or the
// kiosk's browser.
func LoopbackHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsLoopbackHost(r.Host) {
			http.Error(w, "host not allowed: this listener answers only to localhost, 127.0.0.1 and [::1]", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// IsLoopbackHost reports whether host (a Host header, with or without port) names loopback.
func IsLoopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	switch h {
	case "localhost", "127.0.0.1", "::1", "[::1]":
		return true
	}
	return false
}

// Limiter is a per-key token bucket: each key (a client address, a device) may make burst
// requests at once and rate per second on average. Keys idle long enough to be full again
// are forgotten.
type Limiter struct {
	rate  float64
	burst float64
	now   func() time.Time
	mu    sync.Mutex
	keys  map[string]*bucket
	sweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter of rate requests per second with the given burst.
func NewLimiter(rate float64, burst int) *Limiter {
	return &Limiter{rate: rate, burst: float64(burst), now: time.Now, keys: map[string]*bucket{}}
}

// Allow takes a token for key; false: over the limit, with the wait until the next token.
func (l *Limiter) Allow(key string) (bool, time.Duration) { return l.AllowN(key, 1) }

// AllowN takes n tokens for key (at most the burst); false: over the limit, with the wait
// until there are n.
func (l *Limiter) AllowN(key string, n int) (bool, time.Duration) {
	need := math.Min(float64(n), l.burst)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.sweep) > time.Minute {
		full := time.Duration(l.burst / l.rate * float64(time.Second))
		for k, b := range l.keys {
			if now.Sub(b.last) > full {
				delete(l.keys, k)
			}
		}
		l.sweep = now
	}
	b, ok := l.keys[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.keys[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= need {
		b.tokens -= need
		return true, 0
	}
	return false, time.Duration((need - b.tokens) / l.rate * float64(time.Second))
}

// Limit answers 429 Too Many Requests (with Retry-After and a JSON error body) when l refuses
// the request's key; key nil = the client's IP address.
func Limit(l *Limiter, key func(*http.Request) string, next http.Handler) http.Handler {
	if key == nil {
		key = ClientIP
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := l.Allow(key(r)); !ok {
			TooMany(w, wait)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TooMany writes a 429 answer with Retry-After (whole seconds, at least 1).
func TooMany(w http.ResponseWriter, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	httpjson.Error(w, http.StatusTooManyRequests, wire.CodeRateLimited, "too many requests; retry after "+strconv.Itoa(secs)+" s")
}

// ClientIP is the request's remote IP address.
func ClientIP(r *http.Request) string { return hostOf(r.RemoteAddr) }

// QuietLog logs the first of a burst of similar events (bad tokens, refused connections) and
// then at most once per interval per key, with the number of events not logged in between.
type QuietLog struct {
	Log      *slog.Logger
	Interval time.Duration // 0 = one minute
	now      func() time.Time
	mu       sync.Mutex
	keys     map[string]*quiet
}

type quiet struct {
	last       time.Time
	suppressed int
}

// Warn logs msg for key unless it was logged for that key within the interval; the record
// carries "suppressed", the count of events not logged since the last record.
func (q *QuietLog) Warn(key, msg string, args ...any) {
	q.mu.Lock()
	now := time.Now()
	if q.now != nil {
		now = q.now()
	}
	interval := q.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	if q.keys == nil {
		q.keys = map[string]*quiet{}
	}
	e, ok := q.keys[key]
	if ok && now.Sub(e.last) < interval {
		e.suppressed++
		q.mu.Unlock()
		return
	}
	if !ok {
		if len(q.keys) > 10000 { // bounded: forget everything rather than grow
			q.keys = map[string]*quiet{}
		}
		e = &quiet{}
		q.keys[key] = e
	}
	suppressed := e.suppressed
	e.last, e.suppressed = now, 0
	q.mu.Unlock()
	if q.Log != nil {
		q.Log.Warn(msg, append(args, "suppressed", suppressed)...)
	}
}
