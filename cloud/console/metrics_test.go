package console_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fitmirror/fitmirror/cloud/console"
)

// gathered is one scrape of a registry as "name{label=value,…}" → value.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			key := mf.GetName() + "{"
			for i, l := range m.Label {
				if i > 0 {
					key += ","
				}
				key += l.GetName() + "=" + l.GetValue()
			}
			key += "}"
			switch {
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			}
		}
	}
	return out
}

// The fleet's collector reads the fleet at each scrape: mirrors by console state (silent
// included) and by version (at most 20 versions, a hostile one made visible), the gauges of
// each mirror's telemetry and its counters.
func TestFleetCollector(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	f := console.NewFleet("", func() time.Time { return now })
	reg := prometheus.NewRegistry()
	reg.MustRegister(f.Collector(time.Minute))
	f.Handle("mirror/m1/status", []byte(`{"state":"online","version":"`+"1.2.3\\u001b[2J"+`","target_version":"1.3.0"}`))
	f.Handle("mirror/m1/telemetry", []byte(`{"fps":15,"cpu_pct":30.5,"temp_c":55,"disk_free_mb":2,"camera":"lost","counters":{"sessions":5,"photos":4,"qr_shown":3,"bound":2}}`))
	f.Handle("mirror/m2/status", []byte(`{"state":"offline","version":"1.0.0"}`))
	got := gathered(t, reg)
	for k, want := range map[string]float64{
		"mirror_cloud_fleet_mirrors{state=online}": 1, "mirror_cloud_fleet_mirrors{state=degraded}": 0,
		"mirror_cloud_fleet_mirrors{state=offline}": 1, "mirror_cloud_fleet_mirrors{state=silent}": 0,
		`mirror_cloud_fleet_mirrors_by_version{version=1.2.3\x1b[2J}`: 1, "mirror_cloud_fleet_mirrors_by_version{version=1.0.0}": 1,
		"mirror_cloud_fleet_mirrors_updating{}": 1, "mirror_cloud_fleet_mirrors_camera_lost{}": 1,
		"mirror_cloud_mirror_state{mirror=m1,state=online}": 1, "mirror_cloud_mirror_state{mirror=m2,state=offline}": 1,
		"mirror_cloud_mirror_fps{mirror=m1}": 15, "mirror_cloud_mirror_cpu_percent{mirror=m1}": 30.5,
		"mirror_cloud_mirror_temperature_celsius{mirror=m1}": 55, "mirror_cloud_mirror_disk_free_bytes{mirror=m1}": 2 << 20,
		"mirror_cloud_mirror_sessions_total{mirror=m1}": 5, "mirror_cloud_mirror_photos_total{mirror=m1}": 4,
		"mirror_cloud_mirror_qr_shown_total{mirror=m1}": 3, "mirror_cloud_mirror_bound_total{mirror=m1}": 2,
		"mirror_cloud_mirror_last_seen_timestamp_seconds{mirror=m1}": float64(now.Unix()),
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (exported %v), want %v", k, v, ok, want)
		}
	}
	if _, ok := got["mirror_cloud_mirror_fps{mirror=m2}"]; ok {
		t.Error("m2 sent no telemetry but has an fps")
	}

	// A minute without telemetry: m1 is silent. 30 more versions: 20 labels, the rest "other".
	now = now.Add(time.Minute)
	for i := range 30 {
		f.Handle(fmt.Sprintf("mirror/v%02d/status", i), []byte(fmt.Sprintf(`{"state":"offline","version":"2.0.%d"}`, i)))
	}
	got = gathered(t, reg)
	if got["mirror_cloud_fleet_mirrors{state=silent}"] != 1 || got["mirror_cloud_fleet_mirrors{state=offline}"] != 31 {
		t.Errorf("after a minute: silent %v, offline %v; want 1 and 31", got["mirror_cloud_fleet_mirrors{state=silent}"], got["mirror_cloud_fleet_mirrors{state=offline}"])
	}
	labels, total := 0, 0.0
	for k, v := range got {
		if len(k) > 37 && k[:37] == "mirror_cloud_fleet_mirrors_by_version" {
			labels++
			total += v
		}
	}
	if labels != 20 || total != 32 || got["mirror_cloud_fleet_mirrors_by_version{version=other}"] != 13 {
		t.Errorf("%d version labels for %v mirrors (other %v), want 20 for 32 (other 13)", labels, total, got["mirror_cloud_fleet_mirrors_by_version{version=other}"])
	}
}
