package console_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres/pgtest"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// receiver is a webhook endpoint on loopback: it fails the first failures requests with
// failStatus (or a robot's errcode when failStatus is 200) and keeps the bodies it took.
type receiver struct {
	mu       sync.Mutex
	failures int
	tries    int
	bodies   []map[string]any
	queries  []url.Values // of every request, refused ones too
	srv      *httptest.Server
}

func newReceiver(t *testing.T, failures int, robot bool) *receiver {
	r := &receiver{failures: failures}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tries++
		r.queries = append(r.queries, req.URL.Query())
		if r.failures > 0 {
			r.failures--
			if robot {
				io.WriteString(w, `{"errcode":45009,"errmsg":"api freq out of limit"}`)
			} else {
				w.WriteHeader(http.StatusInternalServerError)
			}
			return
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook body %q (%s): %v", b, req.Header.Get("Content-Type"), err)
		}
		r.bodies = append(r.bodies, v)
		if robot {
			io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.bodies...)
}

// count is how many requests came, refused ones too.
func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries
}

// recover ends the failures.
func (r *receiver) recover() {
	r.mu.Lock()
	r.failures = 0
	r.mu.Unlock()
}

// Two replicas share one database and watch the same fleet: a mirror offline for
// alerts.after gives one alert (retried past the receiver's errors), and back online one
// recovery, whichever replica sends them.
func TestAlertOnceAcrossReplicas(t *testing.T) {
	onEachDatabase(t, alertOnce)
}

// alertOnce runs two replicas, each with its own store from open (one database).
func alertOnce(t *testing.T, open func() (sharedStore, error)) {
	clk := newClock()
	rcv := newReceiver(t, 2, false)
	fleet := console.NewFleet("mirror", clk.Now)
	status := func(state string) {
		b, _ := json.Marshal(wire.Status{State: state, Reason: "connection lost"})
		fleet.Handle("mirror/m1/status", b)
		fleet.Handle("mirror/m1/telemetry", []byte(`{"fps":15}`))
	}
	status(wire.StateOffline)
	var replicas []*console.Alerter
	for range 2 {
		st, err := open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		list := func(context.Context) ([]console.Mirror, error) {
			return fleet.Mirrors(90*time.Second, map[string]string{"m1": "Shanghai 1"}), nil
		}
		a, err := console.NewAlerter(console.AlertOptions{WebhookURL: rcv.srv.URL + "/hook", After: 5 * time.Minute, Backoff: 10 * time.Millisecond}, st, list, nil, clk.Now)
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, a)
	}
	checkAll := func() {
		var wg sync.WaitGroup
		for _, a := range replicas {
			wg.Go(func() { a.Check(t.Context()) })
		}
		wg.Wait()
	}
	checkAll()
	clk.Add(4 * time.Minute)
	checkAll()
	time.Sleep(100 * time.Millisecond)
	if got := rcv.got(); len(got) != 0 {
		t.Fatalf("alert after 4 min: %v, want none before alerts.after", got)
	}
	clk.Add(time.Minute)
	checkAll()
	checkAll()
	waitFor(t, "the alert", func() bool { return len(rcv.got()) >= 1 })
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
	got := rcv.got()
	if len(got) != 1 || got[0]["event"] != "alert" || got[0]["mirror"] != "m1" || got[0]["state"] != "offline" ||
		got[0]["store"] != "Shanghai 1" || !strings.Contains(got[0]["text"].(string), "m1 is offline since 2026-12-07 10:00:00 UTC (connection lost)") {
		t.Fatalf("alerts = %v, want one for m1 offline", got)
	}
	if rcv.tries != 3 {
		t.Errorf("webhook tries = %d, want 3 (two failures, then delivered)", rcv.tries)
	}
	clk.Add(time.Hour)
	checkAll()
	status(wire.StateOnline)
	checkAll()
	checkAll()
	waitFor(t, "the recovery", func() bool { return len(rcv.got()) >= 2 })
	time.Sleep(200 * time.Millisecond)
	if got := rcv.got(); len(got) != 2 || got[1]["event"] != "recovery" || got[1]["state"] != "online" {
		t.Errorf("notices = %v, want the alert and one recovery", got)
	}
}

// A lost camera (the mirror is up) gives one alert to a WeChat Work or DingTalk group robot
// in its text format, retried while the robot answers a non-zero errcode. The DingTalk robot
// uses signing (加签): every request carries a timestamp and its signature, checked here as
// DingTalk does.
func TestAlertCameraLostToRobot(t *testing.T) {
	for _, format := range []string{console.FormatWeCom, console.FormatDingTalk} {
		t.Run(format, func(t *testing.T) {
			clk := newClock()
			rcv := newReceiver(t, 1, true)
			const secret = "SECb1c5d4e3f2a1908172635445362718"
			e := newEnv(t, nil, clk.Now, func(o *console.Options) {
				o.Alerts = console.AlertOptions{WebhookURL: rcv.srv.URL + "/cgi-bin/webhook/send?key=secret", Format: format,
					After: time.Minute, Every: 10 * time.Millisecond, Backoff: 10 * time.Millisecond}
				if format == console.FormatDingTalk {
					o.Alerts.DingTalkSecret = secret
				}
			})
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { e.con.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			e.fleet.Handle("mirror/m7/status", []byte(`{"state":"online","version":"1.4.0"}`))
			b, _ := json.Marshal(wire.Telemetry{FPS: 0, Camera: "lost", Problems: []wire.Problem{{Part: "camera", State: "lost", Reason: "no frame for 10 s"}}})
			e.fleet.Handle("mirror/m7/telemetry", b)
			time.Sleep(50 * time.Millisecond)
			clk.Add(61 * time.Second)
			e.fleet.Handle("mirror/m7/telemetry", b) // not silent: it still reports
			waitFor(t, "the robot's alert", func() bool { return len(rcv.got()) == 1 })
			got := rcv.got()[0]
			text, _ := got["text"].(map[string]any)
			if got["msgtype"] != "text" || text == nil || len(got) != 2 {
				t.Fatalf("robot body = %v, want {msgtype:text, text:{content}}", got)
			}
			content, _ := text["content"].(string)
			if !strings.Contains(content, "mirror m7 has lost its camera since") || !strings.Contains(content, "camera lost: no frame for 10 s") {
				t.Errorf("content = %q", content)
			}
			time.Sleep(100 * time.Millisecond)
			if n := len(rcv.got()); n != 1 {
				t.Errorf("%d notices, want 1", n)
			}
			e.fleet.Handle("mirror/m7/telemetry", []byte(`{"fps":15,"camera":"ok"}`))
			waitFor(t, "the robot's recovery", func() bool { return len(rcv.got()) == 2 })
			if c := rcv.got()[1]["text"].(map[string]any)["content"].(string); !strings.Contains(c, "m7 is online again") {
				t.Errorf("recovery = %q", c)
			}
			checkSigned(t, rcv, format == console.FormatDingTalk, secret, clk.Now())
		})
	}
}

// checkSigned checks every request the robot took: the key kept, and with signing a
// timestamp (ms, within an hour of now) and sign = base64(HMAC-SHA256(secret,
// timestamp+"\n"+secret)), computed here from DingTalk's description, not the console's code.
func checkSigned(t *testing.T, rcv *receiver, signed bool, secret string, now time.Time) {
	t.Helper()
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.queries) != 3 {
		t.Errorf("%d requests, want 3 (a refused alert, the alert, the recovery)", len(rcv.queries))
	}
	for i, q := range rcv.queries {
		if q.Get("key") != "secret" {
			t.Errorf("request %d: key = %q, want the robot's", i, q.Get("key"))
		}
		ts, sign := q.Get("timestamp"), q.Get("sign")
		if !signed {
			if ts != "" || sign != "" {
				t.Errorf("request %d is signed (%v) without a secret", i, q)
			}
			continue
		}
		ms, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || now.Sub(time.UnixMilli(ms)).Abs() > time.Hour {
			t.Errorf("request %d: timestamp %q is not now in ms", i, ts)
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "\n" + secret))
		if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); sign != want {
			t.Errorf("request %d: sign %q, want %q", i, sign, want)
		}
	}
}

// Bad alert options are refused with the key at fault named.
func TestAlertOptionsChecked(t *testing.T) {
	for _, tt := range []struct {
		o    console.AlertOptions
		want string
	}{
		{console.AlertOptions{WebhookURL: "ftp://robot.example/x"}, "alerts.webhook_url: not an http(s) URL"},
		{console.AlertOptions{WebhookURL: "https:///x"}, "alerts.webhook_url"},
		{console.AlertOptions{WebhookURL: "https://h.example/x", Format: "slack"}, `alerts.format: "slack" is not json, wecom or dingtalk`},
		{console.AlertOptions{WebhookURL: "https://h.example/x", After: -time.Second}, "alerts.after"},
		{console.AlertOptions{}, "alerts.webhook_url or alerts.smtp.addr: one is required"},
		{console.AlertOptions{WebhookURL: "https://h.example/x", Format: "wecom", DingTalkSecret: "SECx"}, "alerts.dingtalk_secret: signs a DingTalk robot's requests"},
		{console.AlertOptions{WebhookURL: "https://h.example/x", Format: "dingtalk", DingTalkSecret: "abc"}, "alerts.dingtalk_secret: want the robot's signing secret"},
		{console.AlertOptions{SMTP: console.SMTPOptions{From: "a@b.example"}}, "alerts.smtp.addr: required"},
		{console.AlertOptions{SMTP: console.SMTPOptions{Addr: "smtp.example.com"}}, `alerts.smtp.addr: want host:port (e.g. smtp.example.com:587), got "smtp.example.com"`},
		{console.AlertOptions{SMTP: console.SMTPOptions{Addr: "smtp.example.com:587"}}, "alerts.smtp.from: required"},
		{console.AlertOptions{SMTP: console.SMTPOptions{Addr: "smtp.example.com:587", From: "not an address"}}, `alerts.smtp.from: "not an address" is not an e-mail address`},
		{console.AlertOptions{SMTP: console.SMTPOptions{Addr: "smtp.example.com:587", From: "a@b.example"}}, "alerts.smtp.to: want at least one"},
		{console.AlertOptions{SMTP: console.SMTPOptions{Addr: "smtp.example.com:587", From: "a@b.example", To: []string{"ops@b.example", "x\r\nBcc: y"}}}, `alerts.smtp.to: "x\r\nBcc: y" is not an e-mail address`},
		{console.AlertOptions{SMTP: console.SMTPOptions{Addr: "smtp.example.com:587", From: "a@b.example", To: []string{"o@b.example"}, TLS: "ssl"}}, `alerts.smtp.tls: "ssl" is not starttls, tls or none`},
		{console.AlertOptions{SMTP: console.SMTPOptions{Addr: "smtp.example.com:587", From: "a@b.example", To: []string{"o@b.example"}, Username: "u"}}, "alerts.smtp.password: alerts.smtp.username and alerts.smtp.password go together"},
		{console.AlertOptions{SMTP: console.SMTPOptions{Addr: "smtp.example.com:25", From: "a@b.example", To: []string{"o@b.example"}, Username: "u", Password: "p", TLS: "none"}}, "alerts.smtp.tls: none would send alerts.smtp.password unencrypted to smtp.example.com"},
	} {
		_, err := console.NewAlerter(tt.o, nil, nil, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewAlerter(%+v) = %v, want %q", tt.o, err, tt.want)
		}
	}
	if err := console.CheckAlerts(console.AlertOptions{WebhookURL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", Format: "wecom"}); err != nil {
		t.Errorf("a WeCom robot URL: %v", err)
	}
	if err := console.CheckAlerts(console.AlertOptions{SMTP: console.SMTPOptions{Addr: "127.0.0.1:25", From: "Fitmirror <hub@b.example>",
		To: []string{"ops@b.example"}, Username: "u", Password: "p", TLS: "none"}}); err != nil {
		t.Errorf("a loopback relay without TLS: %v", err)
	}
	if err := console.CheckAlerts(console.AlertOptions{WebhookURL: "ftp://x/?key=SECRETKEY"}); err != nil && strings.Contains(err.Error(), "SECRETKEY") {
		t.Errorf("the error shows the secret URL: %v", err)
	}
}

// closingStore is a replica's console store.
type closingStore interface {
	hubstore.ConsoleStore
	Close() error
}

// sharedStore is a store replicas share: the console's tables and the telemetry.
type sharedStore interface {
	closingStore
	hubstore.TelemetryStore
}

// onEachDatabase runs fn on SQLite (a file) and on PostgreSQL (a server the test starts); each
// call of open is a new connection to the one database, as a replica has.
func onEachDatabase(t *testing.T, fn func(t *testing.T, open func() (sharedStore, error))) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hub.db")
		fn(t, func() (sharedStore, error) { return sqlite.Open(path) })
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.Start(t, pgtest.Options{NoFsync: true}).NewDatabase(t)
		fn(t, func() (sharedStore, error) { return postgres.Open(t.Context(), url) })
	})
}

// An alert that fired before this hub started, of a mirror that recovered meanwhile, gets its
// recovery once the hub sees the mirror online; a mirror that never alerted gets nothing.
func TestAlertRecoveryAfterRestart(t *testing.T) {
	clk := newClock()
	rcv := newReceiver(t, 0, false)
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if ok, err := st.FlipAlert(t.Context(), "mirror/m1", true, clk.Now()); !ok || err != nil {
		t.Fatalf("FlipAlert = %v, %v", ok, err)
	}
	fleet := console.NewFleet("mirror", clk.Now)
	for _, id := range []string{"m1", "m2"} {
		fleet.Handle("mirror/"+id+"/status", []byte(`{"state":"online"}`))
	}
	list := func(context.Context) ([]console.Mirror, error) { return fleet.Mirrors(90*time.Second, nil), nil }
	a, err := console.NewAlerter(console.AlertOptions{WebhookURL: rcv.srv.URL, Backoff: 10 * time.Millisecond}, st, list, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		a.Check(t.Context())
	}
	waitFor(t, "m1's recovery", func() bool { return len(rcv.got()) >= 1 })
	time.Sleep(100 * time.Millisecond)
	if got := rcv.got(); len(got) != 1 || got[0]["event"] != "recovery" || got[0]["mirror"] != "m1" {
		t.Errorf("notices = %v, want m1's recovery only", got)
	}
}
