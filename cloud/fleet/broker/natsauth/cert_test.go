package natsauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker/natsauth"
)

// pki is a devices CA that signs a server certificate for 127.0.0.1 and client certificates.
type pki struct {
	t      *testing.T
	caKey  *ecdsa.PrivateKey
	ca     *x509.Certificate
	caPEM  string
	serial int64
}

func newPKI(t *testing.T) *pki {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "devices CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return &pki{t: t, caKey: key, ca: ca, caPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), serial: 1}
}

// issue returns a certificate (PEM) and its key (PEM) with CN cn, for a client or for the
// server at 127.0.0.1.
func (p *pki) issue(cn string, server bool) (certPEM, keyPEM string) {
	p.serial++
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

// requestTLS is a request without username and password, with the client certificate chain
// the node verified (or, verified false, only presented).
func (b *bench) requestTLS(clientID string, chain []string, verified bool) ([]byte, string) {
	b.t.Helper()
	spub, _ := b.server.PublicKey()
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	rc := jwt.NewAuthorizationRequestClaims(b.keys.IssuerPublic)
	rc.UserNkey = upub
	rc.Server = jwt.ServerID{Name: "nats1", ID: spub}
	rc.ClientInformation = jwt.ClientInformation{Host: "192.0.2.7", Kind: "Client", Type: "mqtt", MQTT: clientID}
	rc.TLS = &jwt.ClientTLS{Version: "1.3"}
	if verified {
		rc.TLS.VerifiedChains = []jwt.StringList{chain}
	} else {
		rc.TLS.Certs = chain
	}
	rc.Expires = time.Now().Add(5 * time.Second).Unix()
	tok, err := rc.Encode(b.server)
	if err != nil {
		b.t.Fatal(err)
	}
	return []byte(tok), upub
}

// TestAnswerClientCertificate: without a password, the CN of the certificate the node
// verified is the device ID; an unverified certificate, a CN that is no device ID or another
// client ID are refused.
func TestAnswerClientCertificate(t *testing.T) {
	b := newBench(t, "", false)
	p := newPKI(t)
	m1, _ := p.issue("m1", false)
	ops, _ := p.issue("_ops", false)
	for _, tt := range []struct {
		name     string
		cid      string
		chain    []string
		verified bool
		refusal  string
	}{
		{"device", "m1", []string{m1, p.caPEM}, true, ""},
		{"another client ID", "m2", []string{m1, p.caPEM}, true, `client ID "m2" is not the device ID "m1"`},
		{"not verified", "m1", []string{m1}, false, "no verified client certificate"},
		{"service account", "_ops", []string{ops, p.caPEM}, true, `CN "_ops" is not a device ID`},
		{"not PEM", "m1", []string{"junk"}, true, "not PEM"},
	} {
		req, upub := b.requestTLS(tt.cid, tt.chain, tt.verified)
		uc, refusal := b.verdict(b.svc.Answer(req, ""), false, upub)
		switch {
		case tt.refusal == "" && uc == nil:
			t.Errorf("%s: refused: %s", tt.name, refusal)
		case tt.refusal == "" && (uc.Name != "m1" || strings.Join(uc.Sub.Allow, " ") != "mirror.m1 mirror.m1.>"):
			t.Errorf("%s: name %q, subscribe %v", tt.name, uc.Name, uc.Sub.Allow)
		case tt.refusal != "" && !strings.Contains(refusal, tt.refusal):
			t.Errorf("%s: refusal %q, want %q", tt.name, refusal, tt.refusal)
		}
	}
}

// TestMQTTClientCertificate: a real nats-server (MQTT with TLS, verify: true, JetStream) with
// the authorization ServerConfig writes and the service beside it: a mirror with its
// certificate and its ID logs in without a password, with another ID it is refused, and a
// password login on the same listener still works.
func TestMQTTClientCertificate(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t)
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	srvCert, srvKey := p.issue("nats1", true)
	b := newBench(t, "", true)
	hash, _ := bcrypt.GenerateFromPassword([]byte("svc-pw"), bcrypt.MinCost)
	auth, err := natsauth.ServerConfig(b.keys.IssuerPublic, b.keys.XKeyPublic, string(hash))
	if err != nil {
		t.Fatal(err)
	}
	write("fitmirror-auth.conf", auth)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mqttPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf(`server_name: nats1
listen: 127.0.0.1:-1
jetstream { store_dir: %q }
mqtt {
  listen: 127.0.0.1:%d
  tls { cert_file: %q, key_file: %q, ca_file: %q, verify: true }
}
include ./fitmirror-auth.conf
`, filepath.Join(dir, "js"), mqttPort, write("server.crt", srvCert), write("server.key", srvKey), write("ca.crt", p.caPEM))
	o, err := server.ProcessConfigFile(write("nats.conf", conf))
	if err != nil {
		t.Fatal(err)
	}
	o.NoSigs, o.NoLog = true, true
	srv, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(20 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	nc, err := natsauth.Connect([]string{srv.ClientURL()}, natsauth.AuthUser, "svc-pw", slog.New(slog.NewTextHandler(b.log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	stop, err := b.svc.Start(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(p.caPEM))
	url := fmt.Sprintf("ssl://127.0.0.1:%d", mqttPort)
	connect := func(cn, clientID, user, password string) error {
		tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if cn != "" {
			crt, key := p.issue(cn, false)
			pair, err := tls.X509KeyPair([]byte(crt), []byte(key))
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		o := mqtt.NewClientOptions().AddBroker(url).SetTLSConfig(tc).SetClientID(clientID).
			SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(15 * time.Second)
		if user != "" {
			o.SetUsername(user).SetPassword(password)
		}
		mc := mqtt.NewClient(o)
		tok := mc.Connect()
		if !tok.WaitTimeout(20 * time.Second) {
			t.Fatalf("%s as %s: no CONNACK", cn, clientID)
		}
		if tok.Error() == nil {
			mc.Disconnect(0)
		}
		return tok.Error()
	}
	if err := connect("m1", "m1", "", ""); err != nil {
		t.Errorf("m1 with its certificate: %v\n%s", err, b.log)
	}
	if !strings.Contains(b.log.String(), `connection allowed" user=m1 client_id=m1 host=127.0.0.1 server=nats1 auth=certificate`) {
		t.Errorf("m1's certificate login not answered by the service:\n%s", b.log)
	}
	if err := connect("m1", "m2", "", ""); err == nil {
		t.Error("m1's certificate logged in as client ID m2")
	}
	if !strings.Contains(b.log.String(), `connection refused" user=m1 client_id=m2 host=127.0.0.1 server=nats1 reason="client ID \"m2\" is not the device ID \"m1\"`) {
		t.Errorf("certificate refusal not logged:\n%s", b.log)
	}
	if err := connect("m2", "m2", "m2", "m2-pw"); err != nil {
		t.Errorf("m2 with a password (and a certificate): %v", err)
	}
}
