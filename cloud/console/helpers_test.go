package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
)

// clock is a settable time for sessions, silence and alerts.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder is a Publisher that keeps what the console sent.
type recorder struct {
	mu       sync.Mutex
	sent     []string // topics
	payloads [][]byte
}

func (r *recorder) Publish(_ context.Context, topic string, payload []byte) error {
	r.mu.Lock()
	r.sent = append(r.sent, topic)
	r.payloads = append(r.payloads, payload)
	r.mu.Unlock()
	return nil
}

func (r *recorder) last() (string, []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sent) == 0 {
		return "", nil
	}
	return r.sent[len(r.sent)-1], r.payloads[len(r.payloads)-1]
}

type env struct {
	st    *sqlite.Store
	fleet *console.Fleet
	con   *console.Console
	srv   *httptest.Server
	clock *clock
}

// newEnv serves a console on loopback over a fresh SQLite store; edit adjusts its options.
func newEnv(t testing.TB, pub console.Publisher, now func() time.Time, edit func(*console.Options)) *env {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if pub == nil {
		pub = &recorder{}
	}
	e := &env{st: st, fleet: console.NewFleet("mirror", now)}
	opts := console.Options{Store: st, Fleet: e.fleet, Publisher: pub, Now: now, CommandWait: 5 * time.Second}
	if edit != nil {
		edit(&opts)
	}
	if e.con, err = console.New(opts); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.con.Handler())
	if !strings.HasPrefix(e.srv.URL, "http://127.0.0.1:") {
		t.Fatalf("console at %s, want loopback", e.srv.URL)
	}
	t.Cleanup(e.srv.Close)
	return e
}

// addOperator adds an operator with a known password.
func (e *env) addOperator(t testing.TB, name, role string) string {
	t.Helper()
	pw := "pw-of-" + name + "-123456"
	if _, err := console.AddOperator(t.Context(), e.st, name, role, pw, time.Now()); err != nil {
		t.Fatal(err)
	}
	return pw
}

// client is a browser-like client: a cookie jar, no redirects followed.
type client struct {
	base string
	hc   *http.Client
	csrf string
}

func (e *env) anonymous() *client {
	jar, _ := cookiejar.New(nil)
	return &client{base: e.srv.URL, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// login logs in as name (JSON answer) and fails the test unless it works.
func (e *env) login(t testing.TB, name, pw string) *client {
	t.Helper()
	c := e.anonymous()
	resp, body := c.postLogin(t, name, pw)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login %s: %s %s", name, resp.Status, body)
	}
	var v struct{ CSRF string }
	json.Unmarshal([]byte(body), &v)
	c.csrf = v.CSRF
	return c
}

func (c *client) postLogin(t testing.TB, name, pw string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", c.base+"/login", strings.NewReader(url.Values{"name": {name}, "password": {pw}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return c.do(t, req)
}

func (c *client) do(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) get(t testing.TB, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	return c.do(t, req)
}

// post sends a JSON body with the session's CSRF token (withCSRF) or without one.
func (c *client) post(t testing.TB, path, body string, withCSRF bool) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if withCSRF {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	return c.do(t, req)
}

// mirrors is GET /api/mirrors (with a query), decoded.
func (c *client) mirrors(t testing.TB, query string) []console.Mirror {
	t.Helper()
	resp, body := c.get(t, "/api/mirrors"+query)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/mirrors%s: %s %s", query, resp.Status, body)
	}
	var ms []console.Mirror
	if err := json.Unmarshal([]byte(body), &ms); err != nil {
		t.Fatal(err)
	}
	return ms
}

func audit(t testing.TB, st hubstore.ConsoleStore) []hubstore.AuditEntry {
	t.Helper()
	es, err := st.Audit(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// waitFor polls cond every 20 ms for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
