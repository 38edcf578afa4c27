package natsauth_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker/natsauth"
)

// BenchmarkAnswer is the cost of one login decision with a production hash (bcrypt cost 11):
// a device's first login after the service starts (bcrypt), its next logins (the remembered
// digest), a wrong password (bcrypt every time). Ratios, not absolute figures, are what
// docs/benchmarks/fleet.md reports.
func BenchmarkAnswer(b *testing.B) {
	h, err := bcrypt.GenerateFromPassword([]byte("m1-pw"), 11)
	if err != nil {
		b.Fatal(err)
	}
	conf, _ := broker.NATSUsers("", []broker.NATSUser{{Name: "m1", Password: string(h)}})
	file := filepath.Join(b.TempDir(), "users.conf")
	os.WriteFile(file, []byte(conf), 0o600)
	keys, _ := natsauth.NewKeys()
	newService := func() *natsauth.Service {
		svc, err := natsauth.New(natsauth.Options{IssuerSeed: keys.IssuerSeed, XKeySeed: keys.XKeySeed,
			UsersFile: file, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		return svc
	}
	bb := &bench{t: b, keys: keys}
	bb.server, _ = nkeys.CreateServer()
	bb.serverX, _ = nkeys.CreateCurveKeys()
	run := func(b *testing.B, pw string, fresh bool) {
		svc := newService()
		req, hdr, _ := bb.request("mqtt", "m1", pw, "m1", true)
		svc.Answer(req, hdr) // the first login, remembered
		b.ResetTimer()
		for range b.N {
			if fresh {
				b.StopTimer()
				svc = newService()
				b.StartTimer()
			}
			svc.Answer(req, hdr)
		}
	}
	b.Run("first-login-bcrypt11", func(b *testing.B) { run(b, "m1-pw", true) })
	b.Run("next-login-remembered", func(b *testing.B) { run(b, "m1-pw", false) })
	b.Run("wrong-password-bcrypt11", func(b *testing.B) { run(b, "nope", false) })
}
