package fleet_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and device certificates.
type testPKI struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	files map[string][]byte
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fitmirror test devices CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{ca: ca, caKey: key, files: map[string][]byte{}}
	p.files["tls/devices-ca.crt"] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p.files["tls/server.crt"], p.files["tls/server.key"] = p.issue(t, "broker", true)
	return p
}

// issue returns a PEM certificate and key signed by the CA.
func (p *testPKI) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// deviceTLS writes a device's certificate and returns the client TLS config (as the agent
// builds it from mqtt.tls.{ca,cert,key}).
func (p *testPKI) deviceTLS(t *testing.T, cn string) fleet.Options {
	t.Helper()
	dir := t.TempDir()
	cert, key := p.issue(t, cn, false)
	files := map[string][]byte{"ca.crt": p.files["tls/devices-ca.crt"], "dev.crt": cert, "dev.key": key}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := fleet.TLSConfig(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "dev.crt"), filepath.Join(dir, "dev.key"))
	if err != nil {
		t.Fatal(err)
	}
	return fleet.Options{TLS: cfg}
}

// TestShippedBrokerConfig runs mosquitto with the shipped mosquitto.conf and acl (paths and
// ports moved into the test's directory): passwords on the plain listener, client
// certificates on the TLS listener with the certificate's CN as the username.
func TestShippedBrokerConfig(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	conf, tlsPort, _ := shippedConfig(t)
	for _, must := range []string{"pattern readwrite mirror/%u/#", "require_certificate true", "use_identity_as_username true"} {
		if !strings.Contains(broker.Config+broker.ACL, must) {
			t.Errorf("shipped broker config lacks %q", must)
		}
	}
	for _, line := range strings.Split(broker.ACL, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") || !strings.Contains(line, "%c") {
			continue
		}
		t.Error("shipped ACL uses the client ID pattern (the client ID is chosen by the client)")
	}
	b := mosquittotest.Start(t, mosquittotest.Options{Users: users, Config: conf, Files: pki.files})
	tlsURL := "mqtts://127.0.0.1:" + strconv.Itoa(tlsPort)

	ops := connectPeer(t, b, broker.OpsUser, "ops-shipped", true)
	ops.subscribe("mirror/#")

	// A certificate for m2 that claims client ID m1: the username is m2 (the CN), so
	// nothing it publishes under mirror/m1/ is delivered.
	impostor := pki.deviceTLS(t, "m2")
	impostor.Broker, impostor.DeviceID, impostor.TelemetryInterval = tlsURL, "m1", 20*time.Millisecond
	ic, stopImpostor := runClient(t, impostor)
	waitConnected(t, ic)
	stopImpostor() // returns after the PUBACK of its offline status: all it sent was routed
	// Positive control on the same subscription: m2 may write its own subtree.
	m2 := connectTLSPeer(t, tlsURL, pki.deviceTLS(t, "m2"), "m2-control")
	if tok := m2.Publish("mirror/m2/events", 1, false, `{"seq":1}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	ops.waitFor("mirror/m2/events", 5*time.Second, nil)
	if got := ops.received("mirror/m1/"); len(got) != 0 {
		t.Errorf("a client with m2's certificate published under mirror/m1: %+v", got)
	}

	// The real m1 over TLS, no password.
	m1 := pki.deviceTLS(t, "m1")
	m1.Broker, m1.DeviceID, m1.TelemetryInterval, m1.Version = tlsURL, "m1", -1, "tls"
	runClient(t, m1)
	ops.waitFor("mirror/m1/status", 10*time.Second, hasState("online"))

	// No client certificate: refused.
	bare := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(tlsURL).SetClientID("bare").
		SetTLSConfig(mustTLS(t, pki)).SetConnectTimeout(5 * time.Second))
	if tok := bare.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		bare.Disconnect(0)
		t.Error("TLS connection without a client certificate was accepted")
	}
	// A device password on the plain listener works too (the shipped per-device passwords).
	plain := connectPeer(t, b, "m3", "m3", true)
	plain.publish("mirror/m3/events", false, `{"seq":1}`)
	ops.waitFor("mirror/m3/events", 5*time.Second, nil)
}

// shippedConfig is the shipped mosquitto.conf with its paths moved into the test broker's
// directory and its listeners on loopback ports: the password listener on {{port}}, the TLS
// and operators' listeners on the returned free ports.
func shippedConfig(t *testing.T) (conf string, tlsPort, opsPort int) {
	t.Helper()
	var err error
	if tlsPort, err = mosquittotest.FreePort(); err != nil {
		t.Fatal(err)
	}
	if opsPort, err = mosquittotest.FreePort(); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"listener 1883 127.0.0.1", "listener 1884 127.0.0.1", "listener 8883"} {
		if !strings.Contains(broker.Config, l+"\n") {
			t.Fatalf("shipped mosquitto.conf lacks %q", l)
		}
	}
	conf = strings.NewReplacer(
		"/etc/mosquitto/fitmirror/", "{{dir}}/",
		"/var/lib/mosquitto/", "{{dir}}/data/",
		"listener 1883 127.0.0.1", "listener {{port}} 127.0.0.1",
		"listener 1884 127.0.0.1", "listener "+strconv.Itoa(opsPort)+" 127.0.0.1",
		"listener 8883", "listener "+strconv.Itoa(tlsPort)+" 127.0.0.1",
	).Replace(broker.Config)
	return conf, tlsPort, opsPort
}

func mustTLS(t *testing.T, pki *testPKI) *tls.Config {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	os.WriteFile(ca, pki.files["tls/devices-ca.crt"], 0o600)
	cfg, err := fleet.TLSConfig(ca, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func connectTLSPeer(t *testing.T, url string, o fleet.Options, clientID string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetTLSConfig(o.TLS))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s over TLS: %v", clientID, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}
