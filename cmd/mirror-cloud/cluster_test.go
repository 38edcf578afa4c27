package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/natstest"
	"github.com/fitmirror/fitmirror/cloud/hubclient"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// TestClusterSimScan runs `mirror-cloud serve` on a three-node NATS cluster (the shipped
// nats.conf; the device's password is the one `device add` printed): a scan reaches the
// mirror's fleet client on another node as a binding, /healthz reports the broker, and after
// the hub's node is killed the hub fails over to the next node and the next scan still
// reaches the mirror.
func TestClusterSimScan(t *testing.T) {
	state := t.TempDir()
	creds := addDevice(t, state, "m1")
	const hubPassword = "hub-cluster-pw"
	var us []broker.NATSUser
	for name, pw := range map[string]string{"m1": creds.MQTTPassword, broker.HubUser: hubPassword} {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		us = append(us, broker.NATSUser{Name: name, Password: string(h)})
	}
	conf, err := broker.NATSUsers("", us)
	if err != nil {
		t.Fatal(err)
	}
	c := natstest.Start(t, natstest.Options{Users: conf})
	urls := c.URLs()
	srv := startServe(t, state, "mqtt.url="+urls[0], "mqtt.failover="+urls[1]+","+urls[2], "mqtt.password="+hubPassword)

	// The mirror's fleet client, on node 3.
	bindings := make(chan wire.Binding, 16)
	mirror, err := fleet.New(fleet.Options{Broker: urls[2], Failover: urls[:2], DeviceID: "m1", Password: creds.MQTTPassword,
		TelemetryInterval: -1, ReconnectMin: 100 * time.Millisecond, ReconnectMax: time.Second,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnBinding: func(_ context.Context, b wire.Binding) { bindings <- b }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mirror.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(20 * time.Second); !mirror.Connected(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("mirror not connected to the cluster within 20s")
		}
	}

	health := func() (int, string) {
		r := get(t, http.DefaultClient, srv.http+"/healthz")
		var h struct {
			Status string
			Checks map[string]struct{ OK bool }
		}
		json.Unmarshal([]byte(r.body), &h)
		if !h.Checks["broker"].OK {
			return r.status, "broker down: " + r.body
		}
		return r.status, h.Status
	}
	if code, status := health(); code != 200 || status != "ok" {
		t.Errorf("/healthz = %d %s, want 200 ok with the broker reachable", code, status)
	}

	photos := t.TempDir()
	jpg, _ := os.ReadFile("../../testdata/face.jpg")
	p, err := hubclient.New(hubclient.Options{BaseURL: srv.http, Token: creds.Token, Photos: filePhotos(photos)})
	if err != nil {
		t.Fatal(err)
	}
	scan := func(openid string) {
		t.Helper()
		photoID := ulid.Make().String()
		os.WriteFile(filepath.Join(photos, photoID+".jpg"), jpg, 0o600)
		qr, err := p.QR(t.Context(), session.Photo{ID: photoID, SessionID: "S1"}, 0)
		if err != nil {
			t.Fatalf("QR: %v", err)
		}
		resp, err := http.Post(srv.http+"/sim/scan", "application/json", strings.NewReader(`{"qr":"`+qr.Content+`","openid":"`+openid+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST /sim/scan = %d", resp.StatusCode)
		}
		deadline := time.After(30 * time.Second)
		for {
			select {
			case b := <-bindings:
				if b.PhotoID == photoID {
					return
				}
			case <-deadline:
				t.Fatalf("no binding for photo %s reached the mirror through the cluster", photoID)
			}
		}
	}
	scan("o_cluster_1")

	// The hub's node dies: the hub reconnects to the next node and the next scan gets through.
	c.Kill(0)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, status := health()
		if code == 200 && status == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz = %d %s 30s after the hub's node died, want ok again (failover)", code, status)
		}
	}
	scan("o_cluster_2")
}
