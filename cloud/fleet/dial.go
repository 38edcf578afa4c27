package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync/atomic"
	"time"
)

// TLSConfig builds the TLS configuration from the mqtt.tls.{ca,cert,key} files: ca (PEM) is
// the broker's CA (empty: system roots); cert and key are the device's client certificate,
// both or neither. With use_identity_as_username on the broker, the certificate's CN must be
// the device ID.
func TLSConfig(ca, cert, key string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("fleet: mqtt.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("fleet: mqtt.tls.ca: %s holds no PEM certificate", ca)
		}
		cfg.RootCAs = pool
	}
	switch {
	case cert != "" && key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("fleet: mqtt.tls.cert/key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case cert != "" || key != "":
		return nil, errors.New("fleet: mqtt.tls.cert and mqtt.tls.key go together")
	}
	return cfg, nil
}

// Traffic counts the bytes and writes of the client's connections (all of them, since start).
type Traffic struct {
	BytesIn, BytesOut, Writes uint64
}

type counters struct {
	in, out, writes atomic.Uint64
}

type countingConn struct {
	net.Conn
	c *counters
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.c.in.Add(uint64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.c.out.Add(uint64(n))
	c.c.writes.Add(1)
	return n, err
}

// dial opens the network connection to u, counting its traffic.
func dial(u *url.URL, tlsCfg *tls.Config, timeout time.Duration, cnt *counters) (net.Conn, error) {
	secure := u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts"
	host := u.Host
	if u.Port() == "" {
		if secure {
			host = net.JoinHostPort(u.Hostname(), "8883")
		} else {
			host = net.JoinHostPort(u.Hostname(), "1883")
		}
	}
	d := net.Dialer{Timeout: timeout}
	raw, err := d.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	var conn net.Conn = countingConn{raw, cnt}
	if secure {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if tlsCfg != nil {
			cfg = tlsCfg.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(conn, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		conn = tc
	}
	return conn, nil
}
