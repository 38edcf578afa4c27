package embedbroker_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/embedbroker"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/internal/mqtttest"
)

func startBroker(t *testing.T) (*embedbroker.Broker, *sqlite.Store, map[string]hub.Credentials) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	creds := map[string]hub.Credentials{}
	for _, id := range []string{"m1", "m2"} {
		if creds[id], err = hub.AddDevice(t.Context(), st, id, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	b, err := embedbroker.New(embedbroker.Options{Listen: "127.0.0.1:0", Store: st, OpsPassword: testOpsPassword, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return b, st, creds
}

const testOpsPassword = "ops-secret"

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type msg = mqtttest.Msg

var (
	connect   = mqtttest.Connect
	subscribe = mqtttest.Subscribe
	recv      = mqtttest.Recv
)

// The operator account reads and writes every mirror's topics when a password is set, and
// does not exist otherwise.
func TestBrokerOperatorAccount(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	creds, err := hub.AddDevice(t.Context(), st, "m1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, opsPassword := range []string{"", "ops-secret"} {
		b, err := embedbroker.New(embedbroker.Options{Listen: "127.0.0.1:0", Store: st, OpsPassword: opsPassword, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()
		if _, _, err := connect(t, b.Addr(), embedbroker.OpsUser, ""); err == nil {
			t.Errorf("ops password %q: _ops connected with an empty password", opsPassword)
		}
		ops, got, err := connect(t, b.Addr(), embedbroker.OpsUser, "ops-secret")
		if opsPassword == "" {
			if err == nil {
				t.Errorf("_ops connected though no operator account is configured")
			}
		} else {
			if err != nil {
				t.Fatalf("_ops: %v", err)
			}
			subscribe(t, ops, "mirror/#", got)
			m1, _, err := connect(t, b.Addr(), "m1", creds.MQTTPassword)
			if err != nil {
				t.Fatal(err)
			}
			m1.Publish("mirror/m1/status", 1, false, "online").Wait()
			if m := recv(t, got); m.Topic != "mirror/m1/status" || m.Payload != "online" {
				t.Errorf("_ops got %+v, want m1's status", m)
			}
		}
		cancel()
		<-done
	}
}

func TestBrokerAuthAndACL(t *testing.T) {
	b, _, creds := startBroker(t)
	if _, _, err := connect(t, b.Addr(), "m1", "wrong"); err == nil {
		t.Error("m1 connected with a wrong password")
	}
	if _, _, err := connect(t, b.Addr(), "m9", creds["m1"].MQTTPassword); err == nil {
		t.Error("an unregistered device connected")
	}
	if _, _, err := connect(t, b.Addr(), "m2", creds["m1"].MQTTPassword); err == nil {
		t.Error("m2 connected with m1's password")
	}
	m1, got1, err := connect(t, b.Addr(), "m1", creds["m1"].MQTTPassword)
	if err != nil {
		t.Fatalf("m1 with its password: %v", err)
	}
	m2, got2, err := connect(t, b.Addr(), "m2", creds["m2"].MQTTPassword)
	if err != nil {
		t.Fatal(err)
	}
	subscribe(t, m1, "mirror/m1/binding", got1)
	// m2 tries to listen to m1 and to everything; the broker must deliver it nothing of m1's.
	subscribe(t, m2, "mirror/m1/#", got2)
	subscribe(t, m2, "#", got2)
	subscribe(t, m2, "mirror/m2/#", got2)

	if err := b.Publish(t.Context(), "mirror/m1/binding", []byte(`{"binding_id":"B1"}`)); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, got1); m.Payload != `{"binding_id":"B1"}` {
		t.Errorf("m1 got %+v", m)
	}
	// m1 may not publish into m2's topics.
	m1.Publish("mirror/m2/cmd/restart", 1, false, "forged").Wait()
	// A marker after both: m2 gets it, and must have got nothing before it.
	b.Publish(t.Context(), "mirror/m2/marker", []byte("marker"))
	if m := recv(t, got2); m.Topic != "mirror/m2/marker" {
		t.Errorf("m2 received %+v before its marker: isolation broken", m)
	}
}
