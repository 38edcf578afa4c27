package fleet_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/cloud/fleet/natstest"
	"github.com/fitmirror/fitmirror/internal/mqtttest"
)

// Revocation on the shipped mosquitto setup (#23): the documented rotation — a new password
// with mosquitto_passwd, then `systemctl reload mosquitto` (SIGHUP) — closes a session opened
// with the old password: mosquitto checks its live clients against the reloaded password file.
// The old session receives none of the commands sent after, cannot log in again, and the new
// password works. Deleting the device (mosquitto_passwd -D) and reloading does the same.
func TestMosquittoReloadClosesRevokedSessions(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"m1": "old-pw", "m2": "pw-m2", broker.OpsUser: "pw-ops"}})
	old, got, err := mqtttest.Connect(t, b.Addr(), "m1", "old-pw")
	if err != nil {
		t.Fatal(err)
	}
	mqtttest.Subscribe(t, old, "mirror/m1/cmd/+", got)
	m2, m2Got, err := mqtttest.Connect(t, b.Addr(), "m2", "pw-m2")
	if err != nil {
		t.Fatal(err)
	}
	mqtttest.Subscribe(t, m2, "mirror/m2/cmd/+", m2Got)
	ops, _, err := mqtttest.Connect(t, b.Addr(), broker.OpsUser, "pw-ops")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetPassword("m1", "new-pw"); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	waitDisconnected(t, old, "the session opened with the rotated-out password")
	ops.Publish("mirror/m1/cmd/restart", 1, false, `{"id":"after"}`).Wait()
	select {
	case m := <-got:
		t.Fatalf("the rotated-out session received %+v", m)
	case <-time.After(300 * time.Millisecond):
	}
	if _, _, err := mqtttest.Connect(t, b.Addr(), "m1", "old-pw"); err == nil {
		t.Error("the old password logs in after the reload")
	}
	if _, _, err := mqtttest.Connect(t, b.Addr(), "m1", "new-pw"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if !m2.IsConnectionOpen() {
		t.Fatal("m2, not rotated, was disconnected by the reload")
	}
	if err := b.RemoveUser("m2"); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	waitDisconnected(t, m2, "the removed device's session")
}

func waitDisconnected(t *testing.T, c interface{ IsConnectionOpen() bool }, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); c.IsConnectionOpen(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s is still open 5 s after the revocation", what)
		}
	}
}

// Revocation on the NATS cluster (#23): the auth callout service remembers the connections it
// let in and the hash each matched. When the users file changes (a rotated password: the
// hash differs; a removed device: no hash), the service closes those connections with the
// server's kick request, on whichever node they are. Here the logins are answered by the
// services beside nodes 1–3 and the sessions sit on nodes 2 and 3.
func TestNATSRotationClosesRevokedSessions(t *testing.T) {
	c := startClusterWith(t, natstest.Options{})
	node := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", c.Nodes[i].MQTTPort) }
	old, got, err := mqtttest.Connect(t, node(1), "m1", users["m1"])
	if err != nil {
		t.Fatal(err)
	}
	mqtttest.Subscribe(t, old, "mirror/m1/cmd/+", got)
	m2, _, err := mqtttest.Connect(t, node(2), "m2", users["m2"])
	if err != nil {
		t.Fatal(err)
	}
	ops, _, err := mqtttest.Connect(t, node(0), broker.OpsUser, users[broker.OpsUser])
	if err != nil {
		t.Fatal(err)
	}
	setNATSUser(t, c.UsersFile, "m1", "new-pw")
	waitDisconnected(t, old, "the session opened with the rotated-out password")
	// The service logs the kick once the server has answered it, which may be after the
	// session is seen closed.
	for deadline := time.Now().Add(5 * time.Second); !c.AuthLogged(`revoked session closed" user=m1`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the kick is not logged:\n%s", c.AuthLogs())
		}
	}
	ops.Publish("mirror/m1/cmd/restart", 1, false, `{"id":"after"}`).Wait()
	select {
	case m := <-got:
		t.Fatalf("the rotated-out session received %+v", m)
	case <-time.After(300 * time.Millisecond):
	}
	if _, _, err := mqtttest.Connect(t, node(1), "m1", users["m1"]); err == nil {
		t.Error("the old password logs in after the rotation")
	}
	fresh, _, err := mqtttest.Connect(t, node(1), "m1", "new-pw")
	if err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if !m2.IsConnectionOpen() || !ops.IsConnectionOpen() {
		t.Fatal("a session whose password did not change was closed")
	}
	setNATSUser(t, c.UsersFile, "m2", "")
	waitDisconnected(t, m2, "the removed device's session")
	time.Sleep(1500 * time.Millisecond) // another second of the services' watch
	if !fresh.IsConnectionOpen() || !ops.IsConnectionOpen() {
		t.Error("removing m2 closed a session it should not have")
	}
}

// setNATSUser rewrites the users file the auth services read, as `mirror-cloud device rotate`
// (a new hash for name) and `remove` (pw "") do; the other users keep their hashes.
func setNATSUser(t *testing.T, path, name, pw string) {
	t.Helper()
	list, err := broker.ReadNATSUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	var us []broker.NATSUser
	for _, u := range list {
		if u.Name != name {
			us = append(us, u)
		}
	}
	if pw != "" {
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
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
