package fleet_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/internal/wire"
)

var (
	benchAgents = flag.Int("fleet.agents", 500, "simulated mirrors in BenchmarkFleet")
	benchIdle   = flag.Duration("fleet.idle", 30*time.Second, "idle window (telemetry only) measured in BenchmarkFleet")
	benchBurst  = flag.Int("fleet.burst", 20, "events each mirror appends at once in BenchmarkFleet")
	benchTele   = flag.Duration("fleet.telemetry", 10*time.Second, "telemetry interval in BenchmarkFleet")
)

// memOutbox is an in-memory Outbox (the benchmark measures MQTT, not 500 SQLite files).
type memOutbox struct {
	mu       sync.Mutex
	seq      uint64
	events   []wire.Event
	appended map[uint64]time.Time // when each seq was appended, for the latency
	signal   chan struct{}
}

func newMemOutbox() *memOutbox {
	return &memOutbox{signal: make(chan struct{}, 1), appended: map[uint64]time.Time{}}
}

func (o *memOutbox) Append(typ string) {
	o.mu.Lock()
	o.seq++
	now := time.Now()
	o.appended[o.seq] = now
	o.events = append(o.events, wire.Event{Seq: o.seq, ID: fmt.Sprintf("%026d", o.seq), Type: typ, At: wire.Time{Time: now}, SessionID: "s", Data: json.RawMessage(`{}`)})
	o.mu.Unlock()
	select {
	case o.signal <- struct{}{}:
	default:
	}
}

func (o *memOutbox) Pending(_ context.Context, after uint64, limit int) ([]wire.Event, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []wire.Event
	for _, e := range o.events {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (o *memOutbox) Ack(_ context.Context, seq uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := 0
	for i < len(o.events) && o.events[i].Seq <= seq {
		i++
	}
	o.events = o.events[i:]
	return nil
}

func (o *memOutbox) Depth(context.Context) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.events), nil
}

func (o *memOutbox) Appended() <-chan struct{} { return o.signal }

func (o *memOutbox) appendedAt(seq uint64) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.appended[seq]
}

// brokerCPU is the broker's user+system CPU time so far (from /proc/PID/stat).
func brokerCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which is in parentheses): state is field 3; utime 14, stime 15.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}

// BenchmarkFleet runs -fleet.agents mirrors (default 500) in this process against one local
// mosquitto: telemetry every -fleet.telemetry (10 s) through an idle window, then a burst of
// -fleet.burst events per mirror. It reports the broker's CPU, the end-to-end event latency
// (append → received by a hub subscriber) and each mirror's own MQTT traffic per hour.
// Run it alone: go test -run '^$' -bench Fleet -benchtime 1x ./cloud/fleet/
func BenchmarkFleet(b *testing.B) {
	n := *benchAgents
	accounts := map[string]string{broker.HubUser: "pw-hub"}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%04d", i)
		accounts[ids[i]] = "pw-" + ids[i]
	}
	br := mosquittotest.Start(b, mosquittotest.Options{Users: accounts, Extra: "max_connections -1\n"})
	for it := 0; it < b.N; it++ {
		runFleetBench(b, br, ids, accounts)
	}
}

func runFleetBench(b *testing.B, br *mosquittotest.Broker, ids []string, accounts map[string]string) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	outboxes := map[string]*memOutbox{}
	for _, id := range ids {
		outboxes[id] = newMemOutbox()
	}
	// The hub: one subscriber for every mirror's status and events. The latency of an event
	// is from its Append to its arrival here.
	var mu sync.Mutex
	online := map[string]bool{}
	var lats []time.Duration
	want := 0
	all := make(chan struct{}, 1)
	hub := mqttPeer(b, br, broker.HubUser, accounts[broker.HubUser], func(topic string, payload []byte) {
		now := time.Now()
		id, _ := wire.DeviceOf("mirror", topic)
		if strings.HasSuffix(topic, "/status") {
			mu.Lock()
			online[id] = strings.Contains(string(payload), `"online"`)
			mu.Unlock()
			return
		}
		var ev struct {
			Seq uint64 `json:"seq"`
		}
		if json.Unmarshal(payload, &ev) != nil || outboxes[id] == nil {
			return
		}
		lat := now.Sub(outboxes[id].appendedAt(ev.Seq))
		mu.Lock()
		lats = append(lats, lat)
		if len(lats) == want {
			all <- struct{}{}
		}
		mu.Unlock()
	})
	defer hub.Disconnect(100)
	if tok := hub.SubscribeMultiple(map[string]byte{"mirror/+/events": 1, "mirror/+/status": 1}, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("hub subscribe: %v", tok.Error())
	}
	expect := func(n int) {
		mu.Lock()
		lats, want = nil, n
		mu.Unlock()
	}
	await := func(what string) []time.Duration {
		select {
		case <-all:
		case <-time.After(120 * time.Second):
			mu.Lock()
			defer mu.Unlock()
			b.Fatalf("%s: hub received %d of %d events within 120s", what, len(lats), want)
		}
		mu.Lock()
		defer mu.Unlock()
		out := append([]time.Duration(nil), lats...)
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		return out
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clients := make([]*fleet.Client, len(ids))
	var wg sync.WaitGroup
	start := time.Now()
	for i, id := range ids {
		c, err := fleet.New(fleet.Options{
			Broker: br.URL(), DeviceID: id, Password: accounts[id], Version: "bench",
			Outbox: outboxes[id], TelemetryInterval: *benchTele, KeepAlive: 30 * time.Second,
			Telemetry: func(context.Context) wire.Telemetry {
				temp := 51.5
				return wire.Telemetry{FPS: 14.8, DetectMSP50: 6.2, CPUPct: 23, RSSMB: 88, TempC: &temp, DiskFreeMB: 20480,
					Camera: "ok", Display: "ok", Session: wire.TelemetrySession{State: "idle"},
					Counters: wire.Counters{Sessions: 120, Photos: 300, QRShown: 300, Bound: 41}}
			},
			Logger: quiet,
		})
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = c
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(ctx) }()
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		up := 0
		for _, ok := range online {
			if ok {
				up++
			}
		}
		mu.Unlock()
		if up == len(clients) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d mirrors online within 60s", up, len(clients))
		}
		time.Sleep(50 * time.Millisecond)
	}
	connectTime := time.Since(start)
	pid := br.PID()
	time.Sleep(time.Second) // let the connect storm settle out of the idle window

	// Idle window: telemetry (and keep-alives) only.
	before := make([]fleet.Traffic, len(clients))
	for i, c := range clients {
		before[i] = c.Traffic()
	}
	cpu0, t0 := brokerCPU(b, pid), time.Now()
	time.Sleep(*benchIdle)
	idleCPU, idleWall := brokerCPU(b, pid)-cpu0, time.Since(t0)
	var bytesOut, bytesIn, writes uint64
	for i, c := range clients {
		tr := c.Traffic()
		bytesOut += tr.BytesOut - before[i].BytesOut
		bytesIn += tr.BytesIn - before[i].BytesIn
		writes += tr.Writes - before[i].Writes
	}
	perHour := float64(time.Hour) / float64(idleWall) / float64(len(clients))

	// Trickle: single events from one mirror after another, 10 ms apart (no queueing).
	const trickle = 200
	expect(trickle)
	for i := 0; i < trickle; i++ {
		outboxes[ids[(i*7)%len(ids)]].Append("qr.shown")
		time.Sleep(10 * time.Millisecond)
	}
	single := await("trickle")

	// Burst: every mirror appends -fleet.burst events at once.
	total := len(ids) * *benchBurst
	expect(total)
	// The timer runs over the whole scenario (tens of seconds), so one iteration is enough for
	// the benchmark framework; the figures are the reported metrics.
	cpu1, t1 := brokerCPU(b, pid), time.Now()
	for _, id := range ids {
		for j := 0; j < *benchBurst; j++ {
			outboxes[id].Append("qr.shown")
		}
	}
	burst := await("burst")
	burstWall, burstCPU := time.Since(t1), brokerCPU(b, pid)-cpu1
	cancel()
	wg.Wait()

	q := func(l []time.Duration, f float64) time.Duration {
		return l[int(f*float64(len(l)-1))].Round(100 * time.Microsecond)
	}
	b.ReportMetric(float64(idleCPU)/float64(idleWall)*100, "broker-idle-cpu-%")
	b.ReportMetric(float64(burstCPU)/float64(burstWall)*100, "broker-burst-cpu-%")
	b.ReportMetric(float64(q(single, 0.95))/float64(time.Millisecond), "event-p95-ms")
	b.ReportMetric(float64(q(burst, 0.95))/float64(time.Millisecond), "burst-p95-ms")
	b.ReportMetric(float64(bytesOut+bytesIn)*perHour/1024, "agent-KiB/h")
	b.Logf("%d mirrors online in %s", len(clients), connectTime.Round(time.Millisecond))
	b.Logf("idle %s: broker CPU %s (%.2f%% of a core); per mirror per hour: %.0f B out, %.0f B in, %.0f writes (telemetry every %s)",
		idleWall.Round(time.Millisecond), idleCPU, float64(idleCPU)/float64(idleWall)*100,
		float64(bytesOut)*perHour, float64(bytesIn)*perHour, float64(writes)*perHour, *benchTele)
	b.Logf("single events (%d): latency p50 %s p95 %s max %s", trickle, q(single, 0.5), q(single, 0.95), q(single, 1))
	b.Logf("burst of %d events (%d per mirror): all delivered in %s, broker CPU %s (%.1f%% of a core); latency p50 %s p95 %s max %s",
		total, *benchBurst, burstWall.Round(time.Millisecond), burstCPU, float64(burstCPU)/float64(burstWall)*100,
		q(burst, 0.5), q(burst, 0.95), q(burst, 1))
}

// mqttPeer connects a plain paho client that hands every message to fn.
func mqttPeer(tb testing.TB, br *mosquittotest.Broker, user, password string, fn func(topic string, payload []byte)) mqtt.Client {
	tb.Helper()
	o := mqtt.NewClientOptions().AddBroker(br.URL()).SetClientID(user + "-bench").
		SetUsername(user).SetPassword(password).SetCleanSession(true).SetOrderMatters(false).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { fn(m.Topic(), m.Payload()) })
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("connect %s: %v", user, tok.Error())
	}
	return c
}
