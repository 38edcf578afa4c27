package console

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// The fleet's Prometheus metrics (docs/console.md, "Prometheus and Grafana"): gauges of the
// fleet as the console sees it and the mirrors' own counters, read from the Fleet at scrape
// time. Per-mirror series carry the mirror's ID only (one series per mirror and metric);
// versions are cut to maxVersionLabels values.

// maxVersionLabels bounds the version label of mirror_cloud_fleet_mirrors_by_version: past
// this many distinct versions the rest count as "other", so a mirror cannot grow the hub's
// series by reporting made-up versions.
const maxVersionLabels = 20

var (
	descByState = prometheus.NewDesc("mirror_cloud_fleet_mirrors",
		"Mirrors the hub hears of, by console state (online, degraded, offline, silent).", []string{"state"}, nil)
	descByVersion = prometheus.NewDesc("mirror_cloud_fleet_mirrors_by_version",
		"Mirrors by running version (\"unknown\" when none reported, \"other\" past 20 versions).", []string{"version"}, nil)
	descUpdating = prometheus.NewDesc("mirror_cloud_fleet_mirrors_updating",
		"Mirrors installing a target version other than the one they run.", nil, nil)
	descCameraLost = prometheus.NewDesc("mirror_cloud_fleet_mirrors_camera_lost",
		"Mirrors whose camera is lost or frozen.", nil, nil)
	descMirrorState = prometheus.NewDesc("mirror_cloud_mirror_state",
		"1 for each mirror, labelled with its console state.", []string{"mirror", "state"}, nil)
	descLastSeen = prometheus.NewDesc("mirror_cloud_mirror_last_seen_timestamp_seconds",
		"When the hub last heard of the mirror (telemetry, else status), Unix seconds.", []string{"mirror"}, nil)
	descFPS = prometheus.NewDesc("mirror_cloud_mirror_fps",
		"Camera frames per second, from the mirror's latest telemetry.", []string{"mirror"}, nil)
	descCPU = prometheus.NewDesc("mirror_cloud_mirror_cpu_percent",
		"CPU use in percent, from the mirror's latest telemetry.", []string{"mirror"}, nil)
	descTemp = prometheus.NewDesc("mirror_cloud_mirror_temperature_celsius",
		"SoC temperature, from the mirror's latest telemetry (absent where not readable).", []string{"mirror"}, nil)
	descDisk = prometheus.NewDesc("mirror_cloud_mirror_disk_free_bytes",
		"Free disk space, from the mirror's latest telemetry.", []string{"mirror"}, nil)
	// The mirrors' counters since the agent started: counters per mirror, so that rate() and
	// increase() see an agent's restart as the reset it is; sum them in the query.
	descSessions = prometheus.NewDesc("mirror_cloud_mirror_sessions_total",
		"Sessions the mirror counted since its agent started (telemetry counters.sessions).", []string{"mirror"}, nil)
	descPhotos = prometheus.NewDesc("mirror_cloud_mirror_photos_total",
		"Photos the mirror took since its agent started (telemetry counters.photos).", []string{"mirror"}, nil)
	descQRShown = prometheus.NewDesc("mirror_cloud_mirror_qr_shown_total",
		"QR codes the mirror showed since its agent started (telemetry counters.qr_shown).", []string{"mirror"}, nil)
	descBound = prometheus.NewDesc("mirror_cloud_mirror_bound_total",
		"Photos bound to a shopper on the mirror since its agent started (telemetry counters.bound).", []string{"mirror"}, nil)
)

// counterDescs are the descriptions of wire.Counters' fields, in their order.
var counterDescs = [...]*prometheus.Desc{descSessions, descPhotos, descQRShown, descBound}

// fleetCollector is the Fleet as a prometheus.Collector.
type fleetCollector struct {
	f           *Fleet
	silentAfter time.Duration
}

// Collector returns the fleet's metrics as a collector to register on the hub's registry:
// it reads the fleet at each scrape (no goroutine of its own). silentAfter is the console's
// (0 = 90 s).
func (f *Fleet) Collector(silentAfter time.Duration) prometheus.Collector {
	if silentAfter <= 0 {
		silentAfter = 90 * time.Second
	}
	return &fleetCollector{f: f, silentAfter: silentAfter}
}

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descByState, descByVersion, descUpdating, descCameraLost, descMirrorState, descLastSeen,
		descFPS, descCPU, descTemp, descDisk, descSessions, descPhotos, descQRShown, descBound} {
		ch <- d
	}
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	mirrors := c.f.Mirrors(c.silentAfter, nil)
	counters := c.f.counters()
	states := map[string]int{StateOnline: 0, StateDegraded: 0, StateOffline: 0, StateSilent: 0}
	versions := map[string]int{}
	updating, cameraLost := 0, 0
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, m := range mirrors {
		states[m.State]++
		versions[versionLabel(m.Version)]++
		if m.TargetVersion != "" && m.TargetVersion != m.Version {
			updating++
		}
		if m.CameraLost() {
			cameraLost++
		}
		gauge(descMirrorState, 1, m.ID, m.State)
		if m.LastSeen != nil {
			gauge(descLastSeen, float64(m.LastSeen.UnixMilli())/1000, m.ID)
		}
		for _, g := range []struct {
			d *prometheus.Desc
			v *float64
			k float64
		}{{descFPS, m.FPS, 1}, {descCPU, m.CPU, 1}, {descTemp, m.Temp, 1}, {descDisk, m.DiskFreeMB, 1 << 20}} {
			if g.v != nil {
				gauge(g.d, *g.v*g.k, m.ID)
			}
		}
		if n, ok := counters[m.ID]; ok {
			for i, v := range [...]int64{n.Sessions, n.Photos, n.QRShown, n.Bound} {
				ch <- prometheus.MustNewConstMetric(counterDescs[i], prometheus.CounterValue, float64(v), m.ID)
			}
		}
	}
	for s, n := range states {
		gauge(descByState, float64(n), s)
	}
	for _, v := range cappedVersions(versions) {
		gauge(descByVersion, float64(versions[v]), v)
	}
	gauge(descUpdating, float64(updating))
	gauge(descCameraLost, float64(cameraLost))
}

// versionLabel is a version as a label value (visible already, cut to 40 bytes).
func versionLabel(v string) string {
	if v == "" {
		return "unknown"
	}
	return truncate(v, 40)
}

// cappedVersions folds all but the maxVersionLabels most common versions into "other" (in
// counts) and returns the labels to export.
func cappedVersions(counts map[string]int) []string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		if a < b {
			return -1
		}
		return 1
	})
	if len(keys) <= maxVersionLabels {
		return keys
	}
	other := counts["other"]
	for _, k := range keys[maxVersionLabels-1:] {
		if k != "other" {
			other += counts[k]
			delete(counts, k)
		}
	}
	keep := slices.DeleteFunc(keys[:maxVersionLabels-1:maxVersionLabels-1], func(k string) bool { return k == "other" })
	counts["other"] = other
	return append(keep, "other")
}

// counters are the latest telemetry counters of each mirror that sent telemetry.
func (f *Fleet) counters() map[string]wire.Counters {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]wire.Counters, len(f.mirrors))
	for id, m := range f.mirrors {
		if m.tele != nil {
			out[id] = m.tele.Counters
		}
	}
	return out
}
