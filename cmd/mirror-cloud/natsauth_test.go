package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/natstest"
	"github.com/fitmirror/fitmirror/internal/syncbuf"
	"github.com/fitmirror/fitmirror/internal/testexec"
)

// TestNATSAuthCommand is the operator's path: `mirror-cloud nats-auth init` writes
// fitmirror-auth.conf and nats-auth.yaml, a three-node cluster runs the shipped nats.conf with
// that file, `mirror-cloud nats-auth --config nats-auth.yaml` runs beside it: a mirror logs in
// with its own ID, the same mirror's ID presented by another device is refused (and logged),
// and the service stops on SIGTERM.
func TestNATSAuthCommand(t *testing.T) {
	dir := t.TempDir()
	if out, err := runCloud(t, "nats-auth", "init", "--dir", dir); err != nil || !strings.Contains(out, "fitmirror-auth.conf") {
		t.Fatalf("nats-auth init: %v\n%s", err, out)
	}
	if out, err := runCloud(t, "nats-auth", "init", "--dir", dir); err == nil || !strings.Contains(out, "exists") {
		t.Errorf("a second init overwrote the keys: %v\n%s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "nats-auth.yaml")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("nats-auth.yaml: %v, mode %v, want 0600", err, fi.Mode())
	}
	pws := map[string]string{"m1": "pw-m1", "m2": "pw-m2", broker.HubUser: "pw-hub"}
	var us []broker.NATSUser
	for _, name := range []string{"m1", "m2", broker.HubUser} {
		h, _ := bcrypt.GenerateFromPassword([]byte(pws[name]), bcrypt.MinCost)
		us = append(us, broker.NATSUser{Name: name, Password: string(h)})
	}
	users, err := broker.NATSUsers("", us)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fitmirror-users.conf"), []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	authConf, err := os.ReadFile(filepath.Join(dir, "fitmirror-auth.conf"))
	if err != nil {
		t.Fatal(err)
	}
	c := natstest.Start(t, natstest.Options{Users: users, AuthConfig: string(authConf)})
	urls := c.URLs()

	logs := &syncbuf.Buffer{}
	cmd := testexec.Command(binary(t), "nats-auth", "--config", filepath.Join(dir, "nats-auth.yaml"),
		"--set", "servers="+c.Nodes[0].NATSURL()+","+c.Nodes[1].NATSURL())
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("mirror-cloud nats-auth log:\n%s", logs)
		}
	})
	connect := func(url, user, clientID string) (mqtt.Client, error) {
		mc := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetProtocolVersion(4).
			SetUsername(user).SetPassword(pws[user]).SetAutoReconnect(false).SetCleanSession(false))
		tok := mc.Connect()
		if !tok.WaitTimeout(15 * time.Second) {
			t.Fatalf("%s as %s: no CONNACK", user, clientID)
		}
		return mc, tok.Error()
	}
	var m1 mqtt.Client
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if m1, err = connect(urls[2], "m1", "m1"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("m1 cannot log in with the service running: %v", err)
		}
	}
	defer m1.Disconnect(0)
	if _, err := connect(urls[1], "m2", "m1"); err == nil {
		t.Error("m2 logged in with m1's client ID")
	}
	time.Sleep(500 * time.Millisecond)
	if !m1.IsConnectionOpen() {
		t.Error("m1 lost its connection to m2's attempt")
	}
	hub, err := connect(urls[0], broker.HubUser, "mirror-cloud-replica-a")
	if err != nil {
		t.Errorf("_hub with its own client ID refused: %v", err)
	} else {
		hub.Disconnect(0)
	}
	if !strings.Contains(logs.String(), `user=m2 client_id=m1`) || !strings.Contains(logs.String(), "is not the device ID") {
		t.Errorf("refusal not logged")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("nats-auth exited with %v after SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("nats-auth did not stop within 10s of SIGTERM")
	}
}

// TestNATSAuthCommandErrors: a configuration without keys or password says what is missing.
func TestNATSAuthCommandErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"nats-auth"}, "user, password"},
		{[]string{"nats-auth", "--set", "password=x"}, "issuer_seed: required"},
		{[]string{"nats-auth", "--set", "password=x", "--set", "issuer_seed=SAnope"}, "issuer seed"},
		{[]string{"nats-auth", "init"}, "--dir is required"},
	} {
		out, err := runCloud(t, tt.args...)
		if err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("%v: %v, output %q, want an error with %q", tt.args, err, out, tt.want)
		}
	}
}
