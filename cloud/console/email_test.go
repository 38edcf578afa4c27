package console_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/internal/smtptest"
	"github.com/fitmirror/fitmirror/internal/syncbuf"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// Alerts by e-mail to a real SMTP listener on loopback, as STARTTLS with a login (past two
// refusals: retried), as TLS from the first byte (port 465 style), and to a relay without
// TLS: two replicas sharing one database send one alert and one recovery by e-mail, and the
// webhook set beside it gets its own one of each.
func TestAlertByEmail(t *testing.T) {
	for _, tt := range []struct {
		mode string
		srv  smtptest.Options
	}{
		{console.SMTPStartTLS, smtptest.Options{StartTLS: true, Username: "hub", Password: "pw-1", Fail: 2}},
		{console.SMTPTLS, smtptest.Options{Implicit: true, Username: "hub", Password: "pw-1"}},
		{console.SMTPNone, smtptest.Options{}},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			srv := smtptest.Start(t, tt.srv)
			o := console.SMTPOptions{Addr: srv.Addr, From: "Fitmirror hub <hub@chain.example>", To: []string{"ops@chain.example", "店长 <boss@chain.example>"},
				Username: tt.srv.Username, Password: tt.srv.Password, TLS: tt.mode, TLSConfig: &tls.Config{RootCAs: srv.RootCAs()}}
			emailOnce(t, srv, o, tt.srv.Fail)
		})
	}
}

func emailOnce(t *testing.T, srv *smtptest.Server, o console.SMTPOptions, failures int) {
	clk := newClock()
	rcv := newReceiver(t, 0, false)
	fleet := console.NewFleet("mirror", clk.Now)
	status := func(state string) {
		b, _ := json.Marshal(wire.Status{State: state, Reason: "connection lost\r\nBcc: evil@x.example"})
		fleet.Handle("mirror/m1/status", b)
		fleet.Handle("mirror/m1/telemetry", []byte(`{"fps":15}`))
	}
	status(wire.StateOffline)
	path := filepath.Join(t.TempDir(), "hub.db")
	var replicas []*console.Alerter
	for range 2 {
		st, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		list := func(context.Context) ([]console.Mirror, error) {
			return fleet.Mirrors(90*time.Second, map[string]string{"m1": "上海 12"}), nil
		}
		a, err := console.NewAlerter(console.AlertOptions{WebhookURL: rcv.srv.URL, SMTP: o, Backoff: 10 * time.Millisecond}, st, list, nil, clk.Now)
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
	clk.Add(5 * time.Minute)
	checkAll()
	checkAll()
	waitFor(t, "the e-mail", func() bool { return len(srv.Messages()) >= 1 && len(rcv.got()) >= 1 })
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
	msgs := srv.Messages()
	if len(msgs) != 1 || len(rcv.got()) != 1 {
		t.Fatalf("%d e-mails and %d webhook posts, want one of each", len(msgs), len(rcv.got()))
	}
	if n := srv.Tries(); n != failures+1 {
		t.Errorf("SMTP tries = %d, want %d (%d refusals, then accepted)", n, failures+1, failures)
	}
	checkMail(t, msgs[0], o, "[fitmirror] mirror m1 is offline", "fitmirror: mirror m1 is offline since 2026-12-07 10:00:00 UTC (connection lost\\x0d\\x0aBcc: evil@x.example), store 上海 12")
	status(wire.StateOnline)
	checkAll()
	checkAll()
	waitFor(t, "the recovery", func() bool { return len(srv.Messages()) >= 2 })
	time.Sleep(200 * time.Millisecond)
	if msgs := srv.Messages(); len(msgs) != 2 {
		t.Fatalf("%d e-mails, want the alert and one recovery", len(msgs))
	} else {
		checkMail(t, msgs[1], o, "[fitmirror] mirror m1 is online again", "fitmirror: mirror m1 is online again, store 上海 12")
	}
}

// checkMail reads a message as a mail client would: envelope, headers, decoded subject and body.
func checkMail(t *testing.T, m smtptest.Message, o console.SMTPOptions, subject, text string) {
	t.Helper()
	if m.From != "hub@chain.example" || strings.Join(m.To, ",") != "ops@chain.example,boss@chain.example" {
		t.Errorf("envelope from %q to %q", m.From, m.To)
	}
	if m.User != o.Username || m.TLS != (o.TLS != console.SMTPNone) {
		t.Errorf("session user %q, TLS %v; want %q, TLS unless none", m.User, m.TLS, o.Username)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatalf("message: %v\n%s", err, m.Data)
	}
	if len(msg.Header["Bcc"]) > 0 || len(msg.Header["Subject"]) != 1 {
		t.Errorf("headers = %v: a device string made a header", msg.Header)
	}
	got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || got != subject {
		t.Errorf("subject %q (%v), want %q", got, err, subject)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Name != "店长" {
		t.Errorf("To = %v, %v", to, err)
	}
	if msg.Header.Get("Message-Id") == "" || msg.Header.Get("Date") == "" || msg.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Errorf("headers = %v", msg.Header)
	}
	body, _ := io.ReadAll(quotedReader(msg.Body))
	if !strings.HasPrefix(strings.ReplaceAll(string(body), "\r\n", "\n"), text+"\n") {
		t.Errorf("body:\n%s\nwant it to start with %q", body, text)
	}
}

func quotedReader(r io.Reader) io.Reader { return quotedprintable.NewReader(r) }

// With alerts.smtp.tls starttls, a server that does not offer STARTTLS gets nothing: the
// notice is not sent in the clear, and the log says why.
func TestAlertEmailNeedsStartTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: "hub", Password: "pw-1"})
	clk := newClock()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fleet := console.NewFleet("mirror", clk.Now)
	fleet.Handle("mirror/m1/status", []byte(`{"state":"offline"}`))
	list := func(context.Context) ([]console.Mirror, error) { return fleet.Mirrors(90*time.Second, nil), nil }
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	o := console.SMTPOptions{Addr: srv.Addr, From: "hub@chain.example", To: []string{"ops@chain.example"}, Username: "hub", Password: "pw-1"}
	a, err := console.NewAlerter(console.AlertOptions{SMTP: o, After: time.Minute, Attempts: 2, Backoff: 10 * time.Millisecond}, st, list, log, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	a.Check(t.Context())
	clk.Add(time.Minute)
	a.Check(t.Context())
	waitFor(t, "the give-up", func() bool { return strings.Contains(logs.String(), "alert not delivered") })
	if !strings.Contains(logs.String(), "does not offer STARTTLS") || len(srv.Messages()) != 0 || srv.Tries() != 0 {
		t.Errorf("%d messages, %d tries; log:\n%s", len(srv.Messages()), srv.Tries(), logs.String())
	}
}

// A console with e-mail and no webhook runs the alerts by itself: a mirror whose camera is
// lost gets one e-mail, with the camera named in the subject.
func TestConsoleEmailWithoutWebhook(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	clk := newClock()
	e := newEnv(t, nil, clk.Now, func(o *console.Options) {
		o.Alerts = console.AlertOptions{SMTP: console.SMTPOptions{Addr: srv.Addr, From: "hub@chain.example", To: []string{"ops@chain.example"}, TLS: console.SMTPNone},
			After: time.Minute, Every: 10 * time.Millisecond, Backoff: 10 * time.Millisecond}
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { e.con.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	e.fleet.Handle("mirror/m7/status", []byte(`{"state":"online"}`))
	lost := []byte(`{"fps":0,"camera":"lost","problems":[{"part":"camera","state":"lost","reason":"no frame for 10 s"}]}`)
	e.fleet.Handle("mirror/m7/telemetry", lost)
	time.Sleep(50 * time.Millisecond)
	clk.Add(61 * time.Second)
	e.fleet.Handle("mirror/m7/telemetry", lost)
	waitFor(t, "the e-mail", func() bool { return len(srv.Messages()) == 1 })
	msg, err := mail.ReadMessage(strings.NewReader(string(srv.Messages()[0].Data)))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get("Subject"); got != "[fitmirror] mirror m7 has lost its camera" {
		t.Errorf("subject %q", got)
	}
}
