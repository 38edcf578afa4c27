package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// TestUpdateOverMQTT: the agent answers the fleet's update command over a real mosquitto:
// bad arguments are bad_args naming the field and nothing is fetched; a release the mirror
// cannot install (this test machine runs the agent from no installed fitmirror-agent
// package, or from a newer one) is refused with an update.refused event on the fleet's event
// topic. device/update's tests install for real on a throwaway dpkg root.
func TestUpdateOverMQTT(t *testing.T) {
	_, clip, _ := setup(t)
	b := mosquittotest.Start(t, mosquittotest.Options{Users: brokerUsers})
	ops := connectOperator(t, b, broker.OpsUser)
	ops.subscribe(t, "mirror/m1/#")
	fetched := make(chan string, 10)
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched <- r.URL.Path
		http.NotFound(w, r)
	}))
	defer hub.Close()
	keyDir := t.TempDir()
	if out, err := exec.Command("minisign", "-G", "-W", "-p", filepath.Join(keyDir, "pub"), "-s", filepath.Join(keyDir, "sec")).CombinedOutput(); err != nil {
		t.Fatalf("minisign -G: %v\n%s", err, out)
	}
	pub, _ := os.ReadFile(filepath.Join(keyDir, "pub"))
	key := strings.TrimSpace(strings.Split(string(pub), "\n")[1])
	startAgent(t, "--set", "camera.source="+clip, "--set", "device.id=m1", "--set", "mqtt.url="+b.URL(),
		"--set", "mqtt.password=pw-m1", "--set", "cloud.hub_url="+hub.URL, "--set", "cloud.token=tok",
		"--set", "update.public_keys="+key)
	ops.await(t, 15*time.Second, "online status", func(m mqtt.Message) bool {
		return m.Topic() == "mirror/m1/status" && strings.Contains(string(m.Payload()), `"state":"online"`)
	})

	args := wire.UpdateArgs{Version: "0.0.1~test", URL: "/v1/releases/0.0.1~test/amd64", SHA256: strings.Repeat("0", 64), Size: 10,
		Signature: "untrusted comment: x\nRUQ"}
	// send runs the command and returns its result, and the update.refused event when one
	// comes before the result (the mirror records it first).
	var refused mqtt.Message
	isRefused := func(m mqtt.Message) bool {
		return m.Topic() == "mirror/m1/events" && strings.Contains(string(m.Payload()), `"type":"update.refused"`)
	}
	send := func(id string, a wire.UpdateArgs) wire.CommandResult {
		b, _ := json.Marshal(wire.CommandRequest{ID: id, Args: mustJSON(t, a)})
		ops.publish(t, "mirror/m1/cmd/update", false, string(b))
		m := ops.await(t, 20*time.Second, "update result "+id, func(m mqtt.Message) bool {
			if isRefused(m) {
				refused = m
			}
			return m.Topic() == "mirror/m1/cmd/update/result" && strings.Contains(string(m.Payload()), `"id":"`+id+`"`)
		})
		var res wire.CommandResult
		if err := json.Unmarshal(m.Payload(), &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	noSum, outside := args, args
	noSum.SHA256 = ""
	outside.URL = "https://evil.example/v1/releases/0.0.1~test/amd64"
	for id, c := range map[string]struct {
		a    wire.UpdateArgs
		want string
	}{"u1": {noSum, "sha256: required"}, "u2": {outside, "is not a release of the configured hub"}} {
		if res := send(id, c.a); res.OK || res.Error == nil || res.Error.Code != wire.CodeBadArgs || !strings.Contains(res.Error.Message, c.want) {
			t.Errorf("update %s = %+v, want bad_args with %q", id, res, c.want)
		}
	}
	select {
	case p := <-fetched:
		t.Errorf("bad arguments fetched %s from the hub", p)
	default:
	}
	if refused != nil {
		t.Errorf("bad arguments made an event %s, want none", refused.Payload())
	}
	res := send("u3", args)
	if res.OK || res.Error == nil {
		t.Fatalf("update of an uninstallable release = %+v, want refused", res)
	}
	ev := refused
	if ev == nil {
		ev = ops.await(t, 20*time.Second, "update.refused", isRefused)
	}
	var e struct{ Data wire.Update }
	json.Unmarshal(ev.Payload(), &e)
	if e.Data.Version != "0.0.1~test" || len(e.Data.Reason) < 20 || !strings.Contains(res.Error.Message, e.Data.Reason[:20]) {
		t.Errorf("update.refused = %s for the answer %+v, want the version and the answer's reason", ev.Payload(), res.Error)
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
