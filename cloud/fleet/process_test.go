package fleet_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/internal/testexec"
	"github.com/fitmirror/fitmirror/internal/wire"
)

var outage = flag.Duration("fleet.outage", 30*time.Second, "broker outage in TestOutageLosesNothing")

var (
	agentOnce sync.Once
	agentBin  string
	agentErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if agentBin != "" && agentErr == nil {
		os.RemoveAll(filepath.Dir(agentBin))
	}
	os.Exit(code)
}

// buildAgent builds cloud/fleet/internal/fleetagent once per test binary.
func buildAgent(t *testing.T) string {
	t.Helper()
	agentOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fleetagent-")
		if err != nil {
			agentErr = err
			return
		}
		agentBin = filepath.Join(dir, "fleetagent")
		out, err := exec.Command("go", "build", "-o", agentBin, "./internal/fleetagent").CombinedOutput()
		if err != nil {
			agentErr = err
			agentBin = string(out)
		}
	})
	if agentErr != nil {
		t.Fatalf("go build fleetagent: %v\n%s", agentErr, agentBin)
	}
	return agentBin
}

// agentProc is a running fleetagent.
type agentProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	mu     sync.Mutex
	last   uint64 // last appended seq
	done   bool   // finished appending
	update chan struct{}
	exited chan struct{}
	stderr bytes.Buffer
}

func startAgent(t *testing.T, b *mosquittotest.Broker, id, db string, args ...string) *agentProc {
	t.Helper()
	return startAgentAt(t, b.URL(), id, db, args...)
}

// startAgentAt starts a fleetagent against the broker at url (add -failover URLs in args).
func startAgentAt(t *testing.T, url, id, db string, args ...string) *agentProc {
	t.Helper()
	bin := buildAgent(t)
	cmd := testexec.Command(bin, append([]string{"-broker", url, "-id", id, "-password", users[id], "-db", db}, args...)...)
	a := &agentProc{t: t, cmd: cmd, update: make(chan struct{}, 1), exited: make(chan struct{})}
	cmd.Stderr = &lockedBuf{mu: &a.mu, b: &a.stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			a.mu.Lock()
			if s, ok := strings.CutPrefix(line, "appended "); ok {
				a.last, _ = strconv.ParseUint(s, 10, 64)
			} else if line == "done appending" {
				a.done = true
			}
			a.mu.Unlock()
			select {
			case a.update <- struct{}{}:
			default:
			}
		}
		cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(func() {
		a.signal(syscall.SIGKILL)
		if t.Failed() {
			a.mu.Lock()
			t.Logf("%s stderr (tail):\n%s", id, lastLines(a.stderr.String(), 30))
			a.mu.Unlock()
		}
	})
	return a
}

// waitAppended waits until the agent appended seq (or finished, when seq is 0).
func (a *agentProc) waitAppended(seq uint64, timeout time.Duration) {
	a.t.Helper()
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		ok := (seq > 0 && a.last >= seq) || (seq == 0 && a.done)
		last := a.last
		a.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-a.update:
		case <-a.exited:
			a.t.Fatalf("agent exited after appending %d, waiting for %d", last, seq)
		case <-deadline:
			a.t.Fatalf("agent appended %d within %s, want %d", last, timeout, seq)
		}
	}
}

func (a *agentProc) appended() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

func (a *agentProc) signal(sig syscall.Signal) {
	select {
	case <-a.exited:
		return
	default:
	}
	a.cmd.Process.Signal(sig)
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
		a.t.Errorf("agent did not exit on %v", sig)
		a.cmd.Process.Kill()
	}
}

type lockedBuf struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// TestLastWill: a SIGKILLed agent flips its retained status to offline through the Last Will;
// a clean stop (SIGTERM) publishes offline itself.
func TestLastWill(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ops := connectPeer(t, b, "_ops", "ops-will", true)
	ops.subscribe("mirror/+/status")
	dir := t.TempDir()

	killed := startAgent(t, b, "m1", filepath.Join(dir, "m1.db"))
	ops.waitFor("mirror/m1/status", 20*time.Second, hasState("online"))
	killed.signal(syscall.SIGKILL)
	m := ops.waitFor("mirror/m1/status", 20*time.Second, hasState("offline"))
	if diff := cmp.Diff(wire.WillPayload, m.Payload); diff != "" {
		t.Errorf("status after SIGKILL (-want +got):\n%s", diff)
	}

	clean := startAgent(t, b, "m2", filepath.Join(dir, "m2.db"))
	ops.waitFor("mirror/m2/status", 20*time.Second, hasState("online"))
	clean.signal(syscall.SIGTERM)
	m = ops.waitFor("mirror/m2/status", 20*time.Second, hasState("offline"))
	var s wire.Status
	if err := json.Unmarshal([]byte(m.Payload), &s); err != nil || s.Reason != "shutdown" || s.Version != "fleetagent" {
		t.Errorf("status after SIGTERM = %s, want the agent's own offline (reason shutdown)", m.Payload)
	}

	// Both are retained for whoever asks later (mirrorctl ls).
	late := connectPeer(t, b, "_ops", "ops-will-late", true)
	late.subscribe("mirror/+/status")
	for _, id := range []string{"m1", "m2"} {
		if m := late.waitFor("mirror/"+id+"/status", 5*time.Second, nil); !m.Retained || !hasState("offline")(m.Payload) {
			t.Errorf("retained status of %s = %+v, want retained offline", id, m)
		}
	}
}

// TestOutageLosesNothing stops the broker for -fleet.outage (30 s) while two agents append
// events: m1 keeps running; m2 is SIGKILLed and restarted during the outage. After the broker
// comes back a consumer with a persistent session receives every event of both, in order,
// seq without gaps.
func TestOutageLosesNothing(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	hub := connectPeer(t, b, "_hub", "hub-outage", false)
	hub.subscribe("mirror/+/events")
	dir := t.TempDir()

	m1 := startAgent(t, b, "m1", filepath.Join(dir, "m1.db"), "-events", "200", "-every", "100ms")
	m2 := startAgent(t, b, "m2", filepath.Join(dir, "m2.db"), "-events", "100", "-every", "40ms")
	m1.waitAppended(5, 20*time.Second)
	m2.waitAppended(5, 20*time.Second)

	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	t.Logf("broker stopped after m1 appended %d, m2 %d", m1.appended(), m2.appended())
	m2.waitAppended(0, 30*time.Second)
	m2.signal(syscall.SIGKILL)
	m2b := startAgent(t, b, "m2", filepath.Join(dir, "m2.db"), "-events", "100", "-every", "10ms")
	m2b.waitAppended(0, 30*time.Second)
	m1.waitAppended(0, 60*time.Second)
	if left := *outage - time.Since(down); left > 0 {
		time.Sleep(left) // the outage itself is the scenario
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker restarted after %s", time.Since(down).Round(time.Millisecond))

	got := collectAll(t, hub, map[string]int{"mirror/m1/events": 200, "mirror/m2/events": 200}, 60*time.Second)
	for topic, seqs := range got {
		if diff := cmp.Diff(seqRange(1, 200), seqs); diff != "" {
			t.Errorf("%s seqs (-want +got):\n%s", topic, diff)
		}
	}
}

// collectAll is collectSeqs for several topics at once.
func collectAll(t *testing.T, p *peer, want map[string]int, timeout time.Duration) map[string][]uint64 {
	t.Helper()
	got := map[string][]uint64{}
	dups := map[string]int{}
	deadline := time.After(timeout)
	complete := func() bool {
		for topic, n := range want {
			if len(got[topic]) < n {
				return false
			}
		}
		return true
	}
	for !complete() {
		select {
		case m := <-p.ch:
			if _, ok := want[m.Topic]; !ok {
				continue
			}
			var ev struct {
				Seq uint64 `json:"seq"`
			}
			if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
				t.Fatalf("bad event %s: %v", m.Payload, err)
			}
			s := got[m.Topic]
			if len(s) > 0 && ev.Seq <= s[len(s)-1] {
				dups[m.Topic]++
				continue
			}
			got[m.Topic] = append(s, ev.Seq)
		case <-deadline:
			for topic := range want {
				t.Errorf("%s: %d events, last %v", topic, len(got[topic]), tail(got[topic]))
			}
			t.Fatalf("not all events within %s", timeout)
		}
	}
	for topic, n := range dups {
		t.Logf("%s: %d redelivered events skipped", topic, n)
	}
	return got
}
