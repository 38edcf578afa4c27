package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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
	srv      *httptest.Server
}

func newReceiver(t *testing.T, failures int, robot bool) *receiver {
	r := &receiver{failures: failures}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tries++
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

// Two replicas share one database and watch the same fleet: a mirror offline for
// alerts.after gives one alert (retried past the receiver's errors), and back online one
// recovery, whichever replica sends them.
func TestAlertOnceAcrossReplicas(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hub.db")
		alertOnce(t, func() (closingStore, error) { return sqlite.Open(path) })
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.Start(t, pgtest.Options{NoFsync: true}).NewDatabase(t)
		alertOnce(t, func() (closingStore, error) { return postgres.Open(t.Context(), url) })
	})
}

// alertOnce runs two replicas, each with its own store from open (one database).
func alertOnce(t *testing.T, open func() (closingStore, error)) {
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
// in its text format, retried while the robot answers a non-zero errcode.
func TestAlertCameraLostToRobot(t *testing.T) {
	for _, format := range []string{console.FormatWeCom, console.FormatDingTalk} {
		t.Run(format, func(t *testing.T) {
			clk := newClock()
			rcv := newReceiver(t, 1, true)
			e := newEnv(t, nil, clk.Now, func(o *console.Options) {
				o.Alerts = console.AlertOptions{WebhookURL: rcv.srv.URL + "/cgi-bin/webhook/send?key=secret", Format: format,
					After: time.Minute, Every: 10 * time.Millisecond, Backoff: 10 * time.Millisecond}
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
		})
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
		{console.AlertOptions{}, "alerts.webhook_url: required"},
	} {
		_, err := console.NewAlerter(tt.o, nil, nil, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewAlerter(%+v) = %v, want %q", tt.o, err, tt.want)
		}
	}
	if err := console.CheckAlerts(console.AlertOptions{WebhookURL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", Format: "wecom"}); err != nil {
		t.Errorf("a WeCom robot URL: %v", err)
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
