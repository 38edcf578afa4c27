package fleet_test

import (
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
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
