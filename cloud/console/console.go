// Package console is the fleet console that mirror-cloud serves on a listener of its own
// (console.listen, loopback by default): operators log in and see every mirror's state, last
// seen, store, versions, unhealthy parts, CPU, temperature, disk and camera rate, send
// commands, and get word by webhook when a mirror goes dark (alerts). It is plain
// server-rendered HTML with a little JavaScript, embedded in the binary: no CDN, no build step.
//
// The fleet is what the hub hears over MQTT (Fleet, fed from the mirrors' status, telemetry
// and command result topics); operators, sessions, the audit log, the mirrors' stores and the
// alerts' states are in the hub's database (hubstore.ConsoleStore), shared by replicas.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/internal/httpguard"
)

// Publisher sends a command to a mirror (the hub's broker connection).
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// Options configure a Console. Store, Fleet and Publisher are required.
type Options struct {
	Store hubstore.ConsoleStore
	// Events are the mirrors' events the hub keeps (the funnel, a mirror's timeline); nil =
	// none (those pages answer 404).
	Events hubstore.MirrorEventStore
	// Telemetry keeps the mirrors' telemetry by minute for the charts, shared by replicas and
	// kept across restarts; nil = each replica's memory only.
	Telemetry hubstore.TelemetryStore
	Fleet     *Fleet
	Publisher Publisher
	// SessionTTL is how long a login lasts (console.session_ttl); 0 = 12 h.
	SessionTTL time.Duration
	// SilentAfter: a mirror without telemetry this long is silent (console.silent_after);
	// 0 = 90 s, three times the agents' default telemetry_interval.
	SilentAfter time.Duration
	// CheckConfig checks a desired configuration (config/desired's partial "config" object)
	// before the console sends it: mirror-cloud passes the agent's rules
	// (liveconfig.CheckDesired). nil = only its form (a JSON object) is checked.
	CheckConfig func(partial json.RawMessage) error
	// Releases are the signed releases the hub keeps: with them the console sends update
	// (the release's arguments, as a rollout does); nil = no update command.
	Releases hubstore.ReleaseStore
	// CommandWait is how long a command request waits for the mirror's result; 0 = 10 s.
	CommandWait time.Duration
	// Login attempts per operator name and client address: a burst of LoginBurst (0 = 5),
	// then one every LoginEvery (0 = 12 s). Each client address may also try 4 times as many
	// names.
	LoginBurst int
	LoginEvery time.Duration
	// Alerts, when its WebhookURL or SMTP.Addr is set, sends alerts and recoveries (see Alerter).
	Alerts AlertOptions
	Logger *slog.Logger
	Now    func() time.Time
}

// Console serves the fleet console.
type Console struct {
	opts      Options
	log       *slog.Logger
	now       func() time.Time
	fleet     *Fleet
	st        hubstore.ConsoleStore
	perName   *httpguard.Limiter
	perClient *httpguard.Limiter
	alerter   *Alerter
}

// cookieName is the session cookie.
const cookieName = "fitmirror_console"

// New checks the options and returns a console.
func New(opts Options) (*Console, error) {
	if opts.Store == nil || opts.Fleet == nil || opts.Publisher == nil {
		return nil, errors.New("console: Store, Fleet and Publisher are required")
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.SilentAfter <= 0 {
		opts.SilentAfter = 90 * time.Second
	}
	if opts.CommandWait <= 0 {
		opts.CommandWait = 10 * time.Second
	}
	if opts.LoginBurst <= 0 {
		opts.LoginBurst = 5
	}
	if opts.LoginEvery <= 0 {
		opts.LoginEvery = 12 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Console{opts: opts, log: opts.Logger, now: opts.Now, fleet: opts.Fleet, st: opts.Store,
		perName:   httpguard.NewLimiter(1/opts.LoginEvery.Seconds(), opts.LoginBurst),
		perClient: httpguard.NewLimiter(4/opts.LoginEvery.Seconds(), 4*opts.LoginBurst)}
	if opts.Alerts.WebhookURL != "" || opts.Alerts.SMTP.Addr != "" {
		a, err := NewAlerter(opts.Alerts, opts.Store, c.mirrors, opts.Logger, opts.Now)
		if err != nil {
			return nil, err
		}
		c.alerter = a
	}
	return c, nil
}

// Run checks the alerts, stores the telemetry's minutes and forgets expired sessions until
// ctx ends; it returns once the minutes heard are stored.
func (c *Console) Run(ctx context.Context) error {
	if c.alerter != nil {
		go c.alerter.Run(ctx)
	}
	if c.opts.Telemetry != nil {
		stored := make(chan struct{})
		go func() {
			defer close(stored)
			c.storeTelemetry(ctx)
		}()
		defer func() { <-stored }()
	}
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		if err := c.st.PruneSessions(ctx, c.now()); err != nil && ctx.Err() == nil {
			c.log.Warn("console: prune sessions", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// mirrors is the fleet as the console shows it now.
func (c *Console) mirrors(ctx context.Context) ([]Mirror, error) {
	stores, err := c.st.MirrorStores(ctx)
	if err != nil {
		return nil, err
	}
	return c.fleet.Mirrors(c.opts.SilentAfter, stores), nil
}

// storeTelemetry writes the minutes of telemetry that are over to the database each minute,
// in one batch for the fleet, and forgets those past 24 h; at the end, the minute under way too.
func (c *Console) storeTelemetry(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.flushTelemetry(context.WithoutCancel(ctx), true)
			return
		case <-t.C:
			c.flushTelemetry(ctx, false)
		}
	}
}

// flushTelemetry stores the minutes not yet stored that are over (all: and the one under
// way). Minutes that fail to store are tried again at the next flush.
func (c *Console) flushTelemetry(ctx context.Context, all bool) {
	now := c.fleet.now()
	before := int32(now.Unix() / 60)
	if all {
		before++
	}
	if ms := c.fleet.unstoredMinutes(before); len(ms) > 0 {
		if err := c.opts.Telemetry.AddTelemetry(ctx, ms); err != nil {
			c.log.Warn("console: store telemetry", "minutes", len(ms), "err", err)
		} else {
			c.fleet.markStored(ms)
		}
	}
	if err := c.opts.Telemetry.PruneTelemetry(ctx, now.Add(-24*time.Hour)); err != nil {
		c.log.Warn("console: prune telemetry", "err", err)
	}
}

// telemetry is a mirror's history of the last 24 h: the minutes the database keeps with those
// this replica heard (false when the fleet has not heard of the mirror). When the database
// does not answer, the minutes heard.
func (c *Console) telemetry(ctx context.Context, id string) ([]Point, bool) {
	mem, ok := c.fleet.recentMinutes(id)
	if !ok || c.opts.Telemetry == nil {
		return pointsOf(mem), ok
	}
	db, err := c.opts.Telemetry.Telemetry(ctx, id, c.fleet.now().Add(-24*time.Hour))
	if err != nil {
		c.log.Warn("console: telemetry", "mirror", id, "err", err)
	}
	return pointsOf(mergeMinutes(mem, db)), true
}

// Handler returns the console's routes. Every page and API needs a session except the login
// page and the static assets (style and script, nothing of the fleet).
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.FileServerFS(staticFS))
	mux.HandleFunc("GET /login", c.loginPage)
	mux.HandleFunc("POST /login", c.login)
	mux.Handle("POST /logout", c.auth(hubstore.RoleViewer, c.logout))
	mux.Handle("GET /{$}", c.auth(hubstore.RoleViewer, c.fleetPage))
	mux.Handle("GET /audit", c.auth(hubstore.RoleAdmin, c.auditPage))
	mux.Handle("GET /api/mirrors", c.auth(hubstore.RoleViewer, c.apiMirrors))
	mux.Handle("GET /api/audit", c.auth(hubstore.RoleAdmin, c.apiAudit))
	mux.Handle("GET /funnel", c.auth(hubstore.RoleViewer, c.funnelPage))
	mux.Handle("GET /api/funnel", c.auth(hubstore.RoleViewer, c.apiFunnel))
	mux.Handle("GET /api/mirrors/{id}/events", c.auth(hubstore.RoleViewer, c.apiEvents))
	mux.Handle("GET /mirrors/{id}", c.auth(hubstore.RoleViewer, c.mirrorPage))
	mux.Handle("GET /api/mirrors/{id}", c.auth(hubstore.RoleViewer, c.apiMirror))
	mux.Handle("GET /api/mirrors/{id}/telemetry", c.auth(hubstore.RoleViewer, c.apiTelemetry))
	mux.Handle("GET /api/mirrors/{id}/config", c.auth(hubstore.RoleViewer, c.apiConfig))
	mux.Handle("POST /api/mirrors/{id}/config", c.auth(hubstore.RoleOperator, c.apiSetConfig))
	mux.Handle("POST /api/mirrors/{id}/cmd/{name}", c.auth(hubstore.RoleOperator, c.apiCommand))
	mux.Handle("POST /api/mirrors/{id}/store", c.auth(hubstore.RoleOperator, c.apiSetStore))
	mux.Handle("/", c.auth(hubstore.RoleViewer, func(w http.ResponseWriter, r *http.Request, _ *who) {
		http.NotFound(w, r)
	}))
	return headers(mux)
}

// headers sets what every answer of the console carries: no framing, no inline script, no
// caching of what an operator saw.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		httpguard.SetPageHeaders(h)
		// same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with
		// the login form, and the login checks the Origin.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// who is the operator of a request's session.
type who struct {
	op      hubstore.Operator
	session hubstore.ConsoleSession
	remote  string
}

// auth requires a session whose operator has at least role, and, on any method but GET and
// HEAD, the session's CSRF token (header X-CSRF-Token or form field csrf). No session: a page
// redirects to /login, an API answers 401. Too small a role: 403, recorded in the audit log.
func (c *Console) auth(role string, next func(http.ResponseWriter, *http.Request, *who)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wh, err := c.session(r)
		if err != nil {
			if !errors.Is(err, hubstore.ErrNotFound) {
				c.log.Warn("console: session", "err", err)
				httpError(w, http.StatusServiceUnavailable, "store_unavailable", "the database does not answer")
				return
			}
			if r.Method == http.MethodGet && !isAPI(r) {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
				return
			}
			httpError(w, http.StatusUnauthorized, "no_session", "log in first (POST /login)")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			tok := r.Header.Get("X-CSRF-Token")
			if tok == "" {
				tok = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(tok), []byte(wh.session.CSRF)) != 1 {
				httpError(w, http.StatusForbidden, "csrf", "missing or wrong CSRF token")
				return
			}
		}
		if roleLevel[wh.op.Role] < roleLevel[role] {
			c.audit(r.Context(), wh, r.Method+" "+r.URL.Path, "", "denied: needs role "+role)
			httpError(w, http.StatusForbidden, "forbidden", "your role ("+wh.op.Role+") may not do this; it needs "+role)
			return
		}
		next(w, r, wh)
	})
}

func isAPI(r *http.Request) bool { return len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/api/" }

// session finds the request's session and its operator (ErrNotFound when there is none,
// it expired, or its operator was removed).
func (c *Console) session(r *http.Request) (*who, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" || len(ck.Value) > 128 {
		return nil, hubstore.ErrNotFound
	}
	s, err := c.st.Session(r.Context(), sessionID(ck.Value), c.now())
	if err != nil {
		return nil, err
	}
	op, err := c.st.Operator(r.Context(), s.Operator)
	if err != nil {
		return nil, err
	}
	return &who{op: op, session: s, remote: httpguard.ClientIP(r)}, nil
}

// sessionID is what the database keeps of a session cookie: its SHA-256.
func sessionID(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func randToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// audit records an operator action; a failure to record it is logged.
func (c *Console) audit(ctx context.Context, wh *who, action, target, result string) {
	e := hubstore.AuditEntry{At: c.now(), Operator: wh.op.Name, Action: action, Target: target, Result: visible(truncate(result, 500)), Remote: wh.remote}
	if err := c.st.AddAudit(context.WithoutCancel(ctx), e); err != nil {
		c.log.Warn("console: audit log", "err", err, "operator", e.Operator, "action", action)
	}
	c.log.Info("console: "+action, "operator", e.Operator, "target", target, "result", e.Result, "remote", e.Remote)
}

// httpError writes {"error":{"code","message"}}.
func httpError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
