// Package smtptest is an SMTP server for tests: it listens on a free loopback port, speaks
// enough ESMTP for net/smtp (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT),
// records the messages it accepts, and can refuse the first ones (451) to test retries.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options shape the server.
type Options struct {
	// StartTLS offers STARTTLS; Implicit speaks TLS from the first byte (SMTPS, port 465).
	StartTLS, Implicit bool
	// Username and Password, when set, are required (AUTH PLAIN) before MAIL.
	Username, Password string
	// Fail refuses the first Fail messages at DATA with 451.
	Fail int
}

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Data []byte
	// User is who logged in ("" without AUTH); TLS whether the session was encrypted.
	User string
	TLS  bool
}

// Server is a running test SMTP server.
type Server struct {
	Addr string // host:port on loopback
	opts Options
	tls  *tls.Config
	pool *x509.CertPool
	ln   net.Listener

	mu    sync.Mutex
	fail  int
	tries int
	msgs  []Message
	wg    sync.WaitGroup
}

// Start starts a server, closed when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	cert, pool := selfSigned(t)
	s := &Server{opts: o, fail: o.Fail, pool: pool, tls: &tls.Config{Certificates: []tls.Certificate{cert}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.Implicit {
		ln = tls.NewListener(ln, s.tls)
	}
	s.ln, s.Addr = ln, ln.Addr().String()
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// RootCAs trusts the server's certificate (for 127.0.0.1).
func (s *Server) RootCAs() *x509.CertPool { return s.pool }

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Tries counts the DATA commands: accepted messages and refused ones.
func (s *Server) Tries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tries
}

// session is one connection's state.
type session struct {
	conn  net.Conn
	tc    *textproto.Conn
	tls   bool
	user  string
	from  string
	to    []string
	greet bool
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	_, implicit := c.(*tls.Conn)
	ss := &session{conn: c, tc: textproto.NewConn(c), tls: implicit}
	c.SetDeadline(time.Now().Add(time.Minute))
	ss.tc.PrintfLine("220 smtptest ESMTP")
	for {
		line, err := ss.tc.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		if !s.command(ss, strings.ToUpper(verb), arg) {
			return
		}
	}
}

// command answers one command; false ends the session.
func (s *Server) command(ss *session, verb, arg string) bool {
	reply := func(format string, args ...any) bool { return ss.tc.PrintfLine(format, args...) == nil }
	switch verb {
	case "EHLO", "HELO":
		ss.greet = true
		ext := []string{"smtptest", "8BITMIME"}
		if s.opts.StartTLS && !ss.tls {
			ext = append(ext, "STARTTLS")
		}
		if s.opts.Username != "" {
			ext = append(ext, "AUTH PLAIN")
		}
		for i, e := range ext {
			sep := "-"
			if i == len(ext)-1 {
				sep = " "
			}
			if ss.tc.PrintfLine("250%s%s", sep, e) != nil {
				return false
			}
		}
		return true
	case "STARTTLS":
		if !s.opts.StartTLS || ss.tls {
			return reply("502 5.5.1 not offered")
		}
		if !reply("220 2.0.0 go ahead") {
			return false
		}
		tc := tls.Server(ss.conn, s.tls)
		if tc.Handshake() != nil {
			return false
		}
		ss.conn, ss.tc, ss.tls, ss.greet = tc, textproto.NewConn(tc), true, false
		return true
	case "AUTH":
		return s.auth(ss, arg)
	case "MAIL":
		switch {
		case !ss.greet:
			return reply("503 5.5.1 EHLO first")
		case s.opts.Username != "" && ss.user == "":
			return reply("530 5.7.0 authentication required")
		}
		ss.from, ss.to = addrOf(arg), nil
		return reply("250 2.1.0 ok")
	case "RCPT":
		ss.to = append(ss.to, addrOf(arg))
		return reply("250 2.1.5 ok")
	case "DATA":
		return s.data(ss)
	case "RSET":
		ss.from, ss.to = "", nil
		return reply("250 2.0.0 ok")
	case "NOOP":
		return reply("250 2.0.0 ok")
	case "QUIT":
		reply("221 2.0.0 bye")
		return false
	}
	return reply("502 5.5.2 unknown command")
}

func (s *Server) auth(ss *session, arg string) bool {
	mech, resp, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") || s.opts.Username == "" {
		return ss.tc.PrintfLine("504 5.5.4 unsupported") == nil
	}
	if resp == "" {
		if ss.tc.PrintfLine("334 ") != nil {
			return false
		}
		var err error
		if resp, err = ss.tc.ReadLine(); err != nil {
			return false
		}
	}
	b, _ := base64.StdEncoding.DecodeString(resp)
	parts := strings.Split(string(b), "\x00")
	if len(parts) != 3 || parts[1] != s.opts.Username || parts[2] != s.opts.Password {
		return ss.tc.PrintfLine("535 5.7.8 bad credentials") == nil
	}
	ss.user = parts[1]
	return ss.tc.PrintfLine("235 2.7.0 ok") == nil
}

func (s *Server) data(ss *session) bool {
	if ss.from == "" || len(ss.to) == 0 {
		return ss.tc.PrintfLine("503 5.5.1 MAIL and RCPT first") == nil
	}
	s.mu.Lock()
	s.tries++
	refuse := s.fail > 0
	if refuse {
		s.fail--
	}
	s.mu.Unlock()
	if refuse {
		return ss.tc.PrintfLine("451 4.3.0 try again later") == nil
	}
	if ss.tc.PrintfLine("354 end with <CRLF>.<CRLF>") != nil {
		return false
	}
	b, err := io.ReadAll(ss.tc.DotReader())
	if err != nil {
		return false
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, Message{From: ss.from, To: ss.to, Data: b, User: ss.user, TLS: ss.tls})
	s.mu.Unlock()
	ss.from, ss.to = "", nil
	return ss.tc.PrintfLine("250 2.0.0 queued") == nil
}

// addrOf takes the address out of "FROM:<a@b> SIZE=…" or "TO:<a@b>".
func addrOf(arg string) string {
	_, rest, _ := strings.Cut(arg, ":")
	rest = strings.TrimSpace(rest)
	if i := strings.IndexByte(rest, '>'); strings.HasPrefix(rest, "<") && i > 0 {
		return rest[1:i]
	}
	a, _, _ := strings.Cut(rest, " ")
	return a
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtptest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
