package console

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"time"
)

// SMTP connection security (alerts.smtp.tls).
const (
	SMTPStartTLS = "starttls" // plain connection upgraded with STARTTLS (port 587 or 25); refused if not offered
	SMTPTLS      = "tls"      // TLS from the first byte (SMTPS, port 465)
	SMTPNone     = "none"     // no encryption: only for a relay on loopback or a trusted network
)

// SMTPOptions send each notice by e-mail (alerts.smtp.*).
type SMTPOptions struct {
	Addr string   // host:port of the submission server; empty = no e-mail
	From string   // the sender address
	To   []string // the recipients
	// Username and Password log in with AUTH PLAIN (only over TLS, or to a server on loopback).
	Username, Password string
	TLS                string // SMTPStartTLS (default), SMTPTLS or SMTPNone
	// TLSConfig is for tests (a server's own CA); nil = the system's roots.
	TLSConfig *tls.Config
	// Timeout bounds one try (connect to QUIT); 0 = 30 s.
	Timeout time.Duration
}

// checkSMTP checks alerts.smtp, naming the key at fault.
func checkSMTP(o SMTPOptions) error {
	if o.Addr == "" {
		if o.From != "" || len(o.To) > 0 || o.Username != "" || o.Password != "" {
			return fmt.Errorf("alerts.smtp.addr: required with the other alerts.smtp keys (the server's host:port, e.g. smtp.example.com:587)")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(o.Addr)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return fmt.Errorf("alerts.smtp.addr: want host:port (e.g. smtp.example.com:587), got %q", o.Addr)
	}
	if o.From == "" {
		return fmt.Errorf("alerts.smtp.from: required with alerts.smtp.addr (the sender's address)")
	}
	if _, err := mail.ParseAddress(o.From); err != nil {
		return fmt.Errorf("alerts.smtp.from: %q is not an e-mail address", o.From)
	}
	if len(o.To) == 0 {
		return fmt.Errorf("alerts.smtp.to: want at least one recipient with alerts.smtp.addr")
	}
	for _, to := range o.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return fmt.Errorf("alerts.smtp.to: %q is not an e-mail address", to)
		}
	}
	switch o.TLS {
	case "", SMTPStartTLS, SMTPTLS, SMTPNone:
	default:
		return fmt.Errorf("alerts.smtp.tls: %q is not starttls, tls or none", o.TLS)
	}
	if (o.Username == "") != (o.Password == "") {
		return fmt.Errorf("alerts.smtp.password: alerts.smtp.username and alerts.smtp.password go together")
	}
	if o.Username != "" && o.TLS == SMTPNone && !loopbackHost(host) {
		return fmt.Errorf("alerts.smtp.tls: none would send alerts.smtp.password unencrypted to %s; use starttls or tls", host)
	}
	return nil
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// email sends notices through an SMTP server.
type email struct{ o *SMTPOptions }

func (e *email) name() string { return "email" }

func (e *email) deliver(ctx context.Context, n notice) error {
	if err := e.send(ctx, n); err != nil {
		return fmt.Errorf("smtp %s: %w", e.o.Addr, err)
	}
	return nil
}

// send is one try: connect (TLS at once, or STARTTLS), log in, send, quit.
func (e *email) send(ctx context.Context, n notice) error {
	host, _, _ := net.SplitHostPort(e.o.Addr)
	ctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", e.o.Addr)
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	tlsConf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if e.o.TLSConfig != nil {
		tlsConf = e.o.TLSConfig.Clone()
		tlsConf.ServerName = host
	}
	if e.o.TLS == SMTPTLS {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return err
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return err
	}
	if e.o.TLS == SMTPStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("the server does not offer STARTTLS (alerts.smtp.tls: use tls for port 465, none only for a trusted relay)")
		}
		if err := c.StartTLS(tlsConf); err != nil {
			return err
		}
	}
	if e.o.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.o.Username, e.o.Password, host)); err != nil {
			return err
		}
	}
	return e.transmit(c, n)
}

func (e *email) transmit(c *smtp.Client, n notice) error {
	from, _ := mail.ParseAddress(e.o.From)
	if err := c.Mail(from.Address); err != nil {
		return err
	}
	for _, to := range e.o.To {
		a, _ := mail.ParseAddress(to)
		if err := c.Rcpt(a.Address); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(e.message(n, from)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	c.Quit() // the server has taken the message
	return nil
}

// message is the notice as a plain-text UTF-8 e-mail. Device-supplied strings are shown with
// control characters escaped and reach the headers only as encoded words.
func (e *email) message(n notice, from *mail.Address) []byte {
	m := n.Mirror
	subject := "[fitmirror] mirror " + visible(m.ID) + " is online again"
	if n.Firing {
		subject = "[fitmirror] mirror " + visible(m.ID) + " is " + m.State
		if m.CameraLost() {
			subject = "[fitmirror] mirror " + visible(m.ID) + " has lost its camera"
		}
	}
	var to []string
	for _, t := range e.o.To {
		a, _ := mail.ParseAddress(t)
		to = append(to, a.String())
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s.%s@fitmirror>\r\n",
		from.String(), strings.Join(to, ", "), mime.QEncoding.Encode("utf-8", subject), n.At.Format(time.RFC1123Z), n.event(), n.ID)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	fmt.Fprintf(qp, "%s\r\n\r\nevent: %s\r\nmirror: %s\r\nstate: %s\r\n", visible(n.Text), n.event(), visible(m.ID), m.State)
	if n.Reason != "" {
		fmt.Fprintf(qp, "reason: %s\r\n", visible(n.Reason))
	}
	if m.Store != "" {
		fmt.Fprintf(qp, "store: %s\r\n", visible(m.Store))
	}
	if n.Firing {
		fmt.Fprintf(qp, "since: %s\r\n", n.Since.Format(time.RFC3339))
	}
	fmt.Fprintf(qp, "at: %s\r\n", n.At.Format(time.RFC3339))
	qp.Close()
	return b.Bytes()
}

// helloName is the name given in EHLO: the host's, when it is a plain DNS name.
func helloName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \t\r\n<>") {
		return "localhost"
	}
	return h
}
