package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/internal/debpkg/debtest"
	"github.com/fitmirror/fitmirror/internal/testexec"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// fakeMirror answers update commands as a mirror does: it fetches the release from the hub
// with its token and checks it, then reports the outcome it was told to as an update.* event.
// Its status is retained and published again at each connection (as the fleet client does).
type fakeMirror struct {
	t       *testing.T
	id      string
	creds   hub.Credentials
	hubURL  string
	outcome string // the update.* event it reports
	mu      sync.Mutex
	got     []wire.UpdateArgs
	fetched []string // sha256 of what it downloaded
	c       paho.Client
	seq     uint64
}

func (m *fakeMirror) connect(broker string) {
	status, _ := json.Marshal(wire.Status{State: wire.StateOnline, Version: "1.0", Arch: "amd64", Since: wire.Time{Time: time.Now()}})
	o := paho.NewClientOptions().AddBroker("tcp://" + broker).SetClientID(m.id).SetUsername(m.id).SetPassword(m.creds.MQTTPassword).
		SetProtocolVersion(4).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(500 * time.Millisecond).
		SetOnConnectHandler(func(c paho.Client) {
			c.Publish("mirror/"+m.id+"/status", 1, true, status)
			c.Subscribe("mirror/"+m.id+"/cmd/update", 1, m.onUpdate)
		})
	m.c = paho.NewClient(o)
	if tok := m.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		m.t.Fatalf("%s: connect: %v", m.id, tok.Error())
	}
	m.t.Cleanup(func() { m.c.Disconnect(0) })
}

func (m *fakeMirror) onUpdate(c paho.Client, msg paho.Message) {
	var req struct {
		ID   string          `json:"id"`
		Args wire.UpdateArgs `json:"args"`
	}
	json.Unmarshal(msg.Payload(), &req)
	res, _ := json.Marshal(wire.CommandResult{ID: req.ID, OK: true, Data: json.RawMessage(`{"version":"` + req.Args.Version + `","state":"downloading"}`)})
	c.Publish(msg.Topic()+"/result", 1, false, res)
	hreq, _ := http.NewRequest("GET", m.hubURL+req.Args.URL, nil)
	hreq.Header.Set("Authorization", "Bearer "+m.creds.Token)
	var sum string
	if resp, err := http.DefaultClient.Do(hreq); err == nil {
		h := sha256.New()
		io.Copy(h, resp.Body)
		resp.Body.Close()
		sum = hex.EncodeToString(h.Sum(nil))
	}
	m.mu.Lock()
	m.got = append(m.got, req.Args)
	m.fetched = append(m.fetched, sum)
	m.mu.Unlock()
}

// report publishes the outcome of the update it was sent.
func (m *fakeMirror) report(version string) {
	m.seq++
	data, _ := json.Marshal(wire.Update{Version: version, From: "1.0", Reason: map[string]string{wire.EventUpdateRolledBack: "not healthy within 2m0s: camera lost"}[m.outcome]})
	ev, _ := json.Marshal(wire.Event{Seq: m.seq, ID: "01JEV" + m.id, Type: m.outcome, At: wire.Time{Time: time.Now()}, Data: data})
	m.c.Publish("mirror/"+m.id+"/events", 1, false, ev).Wait()
}

func (m *fakeMirror) commands() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.got)
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
	}
}

// TestRolloutThroughTheHub: a real `mirror-cloud serve` with its embedded broker advances a
// rollout of a release signed with the real minisign: the canary gets the update command,
// fetches the release from the hub with its token (the bytes match the signed package); the
// hub restarts in the middle and goes on; the next mirror rolls back, and the rollout, past
// its threshold of 0 failures, stops by itself before the third mirror is sent anything.
func TestRolloutThroughTheHub(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	pub, sec := debtest.Keypair(t)
	key := strings.Split(strings.TrimSpace(debtest.PublicKey(t, pub)), "\n")[1]
	deb := debtest.Build(t, debtest.Package{Name: "fitmirror-agent", Version: "2.0", Arch: "amd64", Payload: 300_000})
	debtest.Sign(t, sec, deb)
	debBytes, _ := os.ReadFile(deb)
	debSum := sha256.Sum256(debBytes)
	if out, err := testexec.Command(binary(t), "release", "add", deb, "--set", "state_dir="+state, "--set", "updates.public_keys="+key).CombinedOutput(); err != nil {
		t.Fatalf("release add: %v %s", err, out)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0") // the broker's port stays across the restart
	mqttAddr := l.Addr().String()
	l.Close()
	var mirrors []*fakeMirror
	for i, outcome := range []string{wire.EventUpdateCommitted, wire.EventUpdateRolledBack, wire.EventUpdateCommitted} {
		id := []string{"m1", "m2", "m3"}[i]
		mirrors = append(mirrors, &fakeMirror{t: t, id: id, creds: addDevice(t, state, id), outcome: outcome})
	}
	s := startServe(t, state, "mqtt.embedded.listen="+mqttAddr)
	for _, m := range mirrors {
		m.hubURL = s.http
		m.connect(s.mqtt)
	}
	time.Sleep(300 * time.Millisecond) // the hub hears the retained statuses
	out, err := testexec.Command(binary(t), "rollout", "start", "2.0", "--devices", "m1,m2,m3", "--canary", "1", "--batch", "1",
		"--set", "state_dir="+state).CombinedOutput()
	if err != nil {
		t.Fatalf("rollout start: %v %s", err, out)
	}
	id := strings.Fields(string(out))[1]
	m1, m2, m3 := mirrors[0], mirrors[1], mirrors[2]
	waitFor(t, "the canary's update command", 20*time.Second, func() bool { return m1.commands() == 1 })
	if a := m1.got[0]; a.Version != "2.0" || a.URL != "/v1/releases/2.0/amd64" || a.SHA256 != hex.EncodeToString(debSum[:]) ||
		a.Size != int64(len(debBytes)) || !strings.Contains(a.Signature, "trusted comment") || m1.fetched[0] != a.SHA256 {
		t.Fatalf("update args %+v, fetched sha256 %s", a, m1.fetched[0])
	}
	if m2.commands()+m3.commands() != 0 {
		t.Fatal("a batch went out before the canary finished")
	}
	// The hub restarts while the canary updates; the canary reports to the new one.
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s = startServe(t, state, "mqtt.embedded.listen="+mqttAddr)
	waitFor(t, "the mirrors reconnect", 20*time.Second, func() bool { return m1.c.IsConnectionOpen() && m2.c.IsConnectionOpen() })
	time.Sleep(300 * time.Millisecond)
	m1.report("2.0")
	waitFor(t, "the first batch's command", 20*time.Second, func() bool { return m2.commands() == 1 })
	m2.report("2.0") // rolled back
	status := func() string {
		out, _ := testexec.Command(binary(t), "rollout", "status", id, "--set", "state_dir="+state).CombinedOutput()
		return string(out)
	}
	waitFor(t, "the rollout stops by itself", 20*time.Second, func() bool { return strings.Contains(status(), " failed ") })
	time.Sleep(6 * time.Second) // a step later
	if m3.commands() != 0 {
		t.Error("the third mirror got a command after the rollout failed")
	}
	st := status()
	for _, want := range []string{"stopped by itself: 1 mirrors failed, more than the 0 allowed", "m1      0     committed", "m2      1     failed     1.0   not healthy within 2m0s: camera lost", "m3      2     pending"} {
		if !strings.Contains(st, want) {
			t.Errorf("rollout status lacks %q:\n%s", want, st)
		}
	}
}
