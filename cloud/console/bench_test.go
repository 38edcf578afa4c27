package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres/pgtest"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// simulate fills the fleet with n mirrors in 20 stores: a retained status and a telemetry
// message each, one in 20 degraded, one in 50 offline.
func simulate(b testing.TB, e *env, n int) {
	for i := range n {
		id := fmt.Sprintf("store%02d-mirror%03d", i%20, i)
		state, reason := wire.StateOnline, ""
		switch {
		case i%50 == 7:
			state, reason = wire.StateOffline, "connection lost"
		case i%20 == 3:
			state, reason = wire.StateDegraded, "display lost"
		}
		st, _ := json.Marshal(wire.Status{State: state, Reason: reason, Version: "1.4.0"})
		e.fleet.Handle("mirror/"+id+"/status", st)
		e.fleet.Handle("mirror/"+id+"/telemetry", telemetry(i))
		e.st.SetMirrorStore(b.Context(), id, fmt.Sprintf("Store %02d", i%20))
	}
}

func telemetry(i int) []byte {
	temp := 45 + float64(i%20)
	b, _ := json.Marshal(wire.Telemetry{At: wire.Time{Time: time.Now()}, FPS: 15, CPUPct: float64(i % 90), TempC: &temp, DiskFreeMB: 9000, Camera: "ok",
		Counters: wire.Counters{Sessions: int64(i), Photos: int64(i / 2)}})
	return b
}

// BenchmarkFleet1000 is a fleet of 1,000 mirrors: how long GET /api/mirrors and the fleet
// page take (docs/benchmarks/console.md wants both under 1 s), and how many telemetry
// messages a second the hub takes in, in-process and through a real mosquitto (1,000 mirrors
// at the default 30 s interval send 33 a second).
func BenchmarkFleet1000(b *testing.B) {
	const n = 1000
	e := newEnv(b, nil, nil, nil)
	simulate(b, e, n)
	c := e.login(b, "ada", e.addOperator(b, "ada", hubstore.RoleAdmin))
	for _, p := range []struct{ name, path string }{{"api-mirrors", "/api/mirrors"}, {"fleet-page", "/"}, {"api-mirrors-filtered", "/api/mirrors?store=Store+03&state=problem"}} {
		b.Run(p.name, func(b *testing.B) {
			var lat []time.Duration
			var size int
			for b.Loop() {
				start := time.Now()
				resp, body := c.get(b, p.path)
				lat = append(lat, time.Since(start))
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %s", p.path, resp.Status)
				}
				size = len(body)
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(size)/1024, "KiB")
		})
	}
	b.Run("telemetry-in-process", func(b *testing.B) {
		msgs := make([][]byte, n)
		for i := range msgs {
			msgs[i] = telemetry(i)
		}
		i := 0
		for b.Loop() {
			e.fleet.Handle(fmt.Sprintf("mirror/store%02d-mirror%03d/telemetry", i%20, i%n), msgs[i%n])
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("telemetry-mosquitto", func(b *testing.B) { benchBroker(b, n) })
}

// benchBroker publishes telemetry of n mirrors through a real mosquitto (one simulator account
// allowed every mirror's telemetry) to the hub's subscription, and measures how many messages
// a second reach the fleet.
func benchBroker(b *testing.B, n int) {
	acl := broker.ACL + "\nuser sim\ntopic write mirror/+/telemetry\n"
	mq := mosquittotest.Start(b, mosquittotest.Options{Users: map[string]string{broker.HubUser: "hubpw", "sim": "simpw"}, ACL: acl})
	pub, err := hub.DialMQTT(b.Context(), hub.MQTTOptions{URL: mq.URL(), Username: broker.HubUser, Password: "hubpw"})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	f := console.NewFleet("mirror", nil)
	got := make(chan struct{}, 1<<16)
	for _, filter := range f.Filters() {
		if err := pub.Subscribe(filter, func(topic string, payload []byte) { f.Handle(topic, payload); got <- struct{}{} }); err != nil {
			b.Fatal(err)
		}
	}
	sim := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL()).SetClientID("sim").SetUsername("sim").SetPassword("simpw").SetProtocolVersion(4))
	if tok := sim.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer sim.Disconnect(0)
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = telemetry(i)
	}
	start := time.Now()
	for i := range b.N {
		sim.Publish(fmt.Sprintf("mirror/store%02d-mirror%03d/telemetry", i%20, i%n), 1, false, msgs[i%n])
	}
	for i := range b.N {
		select {
		case <-got:
		case <-time.After(30 * time.Second):
			b.Fatalf("%d of %d telemetry messages reached the hub", i, b.N)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkFleetMetrics1000 is a Prometheus scrape of a fleet of 1,000 mirrors: the fleet's
// collector gathered and written in the text format, as GET /metrics serves it.
func BenchmarkFleetMetrics1000(b *testing.B) {
	e := newEnv(b, nil, nil, nil)
	simulate(b, e, 1000)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.fleet.Collector(0))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	var size int
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size)/1024, "KiB")
}

// BenchmarkMirrorPage is a mirror's page in a fleet of 1,000 whose mirror has a full day of
// telemetry (1,440 minutes, two readings each): GET /mirrors/{id} (four charts of 1,440
// points, the timeline, the configuration) and GET /api/mirrors/{id}/telemetry, with the day
// in memory only ("memory") and in the database too ("db": the replica heard it and stored
// it, so every minute is merged), and with the day in the database only ("restarted"); the
// write of one minute of 1,000 mirrors (store-minute-1000, SQLite and PostgreSQL); and the
// memory a day of history takes per mirror (100 mirrors filled).
func BenchmarkMirrorPage(b *testing.B) {
	clk := newClock()
	id := "store00-mirror000"
	for _, mode := range []string{"memory", "db", "restarted"} {
		e := newEnv(b, nil, clk.Now, func(o *console.Options) {
			o.Events = o.Store.(hubstore.MirrorEventStore)
			if mode != "memory" {
				o.Telemetry = o.Store.(hubstore.TelemetryStore)
			}
		})
		simulate(b, e, 1000)
		day := e.fleet
		if mode == "restarted" { // another fleet heard the day; this one only the status
			day = console.NewFleet("mirror", clk.Now)
		}
		for range 24 * 60 {
			day.Handle("mirror/"+id+"/telemetry", telemetry(7))
			clk.Add(30 * time.Second)
			day.Handle("mirror/"+id+"/telemetry", telemetry(8))
			clk.Add(30 * time.Second)
		}
		if mode != "memory" {
			storeDay(b, e.st, day, clk.Now)
		}
		c := e.login(b, "ada", e.addOperator(b, "ada", hubstore.RoleAdmin))
		for _, p := range []struct{ name, path string }{{"mirror-page", "/mirrors/" + id}, {"api-telemetry", "/api/mirrors/" + id + "/telemetry"}} {
			b.Run(p.name+"-"+mode, func(b *testing.B) { benchGet(b, c, p.path, 24*60) })
		}
	}
	b.Run("store-minute-1000-sqlite", func(b *testing.B) {
		st, err := sqlite.Open(filepath.Join(b.TempDir(), "hub.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchStoreMinute(b, st)
	})
	b.Run("store-minute-1000-postgres", func(b *testing.B) {
		st, err := postgres.Open(b.Context(), pgtest.Start(b, pgtest.Options{NoFsync: true}).NewDatabase(b))
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchStoreMinute(b, st)
	})
	b.Run("history-memory", func(b *testing.B) {
		for b.Loop() {
			f := console.NewFleet("mirror", clk.Now)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			msg := telemetry(3)
			for range 24 * 60 {
				for m := range 100 {
					f.Handle(fmt.Sprintf("mirror/m%03d/telemetry", m), msg)
				}
				clk.Add(time.Minute)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/100/1024, "KiB/mirror")
			runtime.KeepAlive(f)
		}
	})
}

// benchGet measures GET path (whose telemetry has points points) as c.
func benchGet(b *testing.B, c *client, path string, points int) {
	var lat []time.Duration
	var size int
	for b.Loop() {
		start := time.Now()
		resp, body := c.get(b, path)
		lat = append(lat, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %s", path, resp.Status)
		}
		if strings.HasSuffix(path, "/telemetry") && strings.Count(body, `"at"`) != points {
			b.Fatalf("%s: %d points, want %d", path, strings.Count(body, `"at"`), points)
		}
		size = len(body)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(size)/1024, "KiB")
}

// storeDay writes what fleet heard to st, as its console does when it stops.
func storeDay(b *testing.B, st *sqlite.Store, fleet *console.Fleet, now func() time.Time) {
	con, err := console.New(console.Options{Store: st, Telemetry: st, Fleet: fleet, Publisher: &recorder{}, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	cancel()
	con.Run(ctx)
}

// benchStoreMinute is the batch a console writes each minute for a fleet of 1,000 mirrors.
func benchStoreMinute(b *testing.B, st hubstore.TelemetryStore) {
	minute := int64(0)
	batch := make([]hubstore.TelemetryMinute, 1000)
	for b.Loop() {
		minute++
		for i := range batch {
			batch[i] = hubstore.TelemetryMinute{Device: fmt.Sprintf("store%02d-mirror%03d", i%20, i), Minute: minute, N: 2, FPS: 30, CPU: 60, Disk: 18000, TN: 2, Temp: 100}
		}
		if err := st.AddTelemetry(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/minute")
}
