package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fitmirror/fitmirror/device/update"
	"github.com/fitmirror/fitmirror/device/vision"
	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/health"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/recorder"
	"github.com/fitmirror/fitmirror/session/store"
)

// metricsHandler serves the agent's Prometheus metrics, read from the parts' own counters
// when scraped (nothing is counted twice).
func metricsHandler(engine *session.Engine, pipeline *vision.Pipeline, db *store.DB, h *health.Tracker, qr *timedProvider, rec *recorder.Recorder,
	up *update.Updater) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		qr.seconds, qr.errors)
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "mirror", Name: name, Help: help}, f))
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "mirror", Name: name, Help: help}, f))
	}
	counter("frames_total", "Camera frames processed.", func() float64 { return float64(pipeline.Frames()) })
	counter("frames_analysed_total", "Camera frames analysed (the rest are skipped at the idle rate).", func() float64 { return float64(pipeline.Stats().Analysed) })
	gauge("analyse_ms_p50", "Median analysis time per analysed frame (motion gate + detector), recent frames.", func() float64 { return pipeline.Stats().AnalyseMsP50 })
	gauge("decision_latency_ms_p95", "Frame read to presence decided, p95 over recent frames.", func() float64 { return pipeline.Stats().LatencyMsP95 })
	counter("sessions_total", "Sessions opened.", func() float64 { return float64(engine.Stats().Sessions) })
	counter("photos_total", "Photos captured.", func() float64 { return float64(engine.Stats().Photos) })
	counter("qr_shown_total", "Photos whose QR code was shown.", func() float64 { return float64(engine.Stats().QRShown) })
	counter("bound_total", "Photos a shopper scanned.", func() float64 { return float64(engine.Stats().Bound) })
	counter("photos_purged_total", "Photos purged by the engine (unbound after a session).", func() float64 { return float64(engine.Stats().Purged) })
	for _, action := range []string{vision.ActionPhoto, vision.ActionNext} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "mirror", Name: "gestures_total",
			Help: "Air-button gestures fired, by action (presence.gestures).", ConstLabels: prometheus.Labels{"action": action}},
			func() float64 { return float64(pipeline.Gestures().Fired[action]) }))
	}
	counter("gestures_abandoned_total", "Air-button holds of 0.3 s or more abandoned unfired while a session was open.",
		func() float64 { return float64(pipeline.Gestures().Abandoned) })
	gauge("outbox_depth", "Events waiting to be published to the fleet.", func() float64 {
		n, err := db.Depth(context.Background())
		if err != nil {
			return -1
		}
		return float64(n)
	})
	counter("outbox_append_errors_total", "Events that could not be recorded (full disk, broken database): lost for the fleet.",
		func() float64 { return float64(rec.Failures()) })
	gauge("camera_up", "1 while the camera delivers frames.", func() float64 { return b2f(pipeline.CameraOK()) })
	gauge("healthy", "1 while /healthz is ok.", func() float64 { return b2f(h.Report().OK()) })
	parts := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "mirror", Name: "part_healthy",
		Help: "1 while the part (camera, display, storage, broker, hub, detector, clock, pipeline, engine) is healthy."}, []string{"part"})
	reg.MustRegister(partsCollector{h, parts})
	if up != nil {
		for i, name := range update.OutcomeNames {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "mirror", Name: "updates_total",
				Help:        "Software updates since start by outcome: committed, rolled_back (the new version was not healthy), refused (nothing installed).",
				ConstLabels: prometheus.Labels{"outcome": name}}, func() float64 { return float64(up.Outcomes()[i]) }))
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// partsCollector reads each part's health from the tracker when scraped.
type partsCollector struct {
	h *health.Tracker
	g *prometheus.GaugeVec
}

func (c partsCollector) Describe(ch chan<- *prometheus.Desc) { c.g.Describe(ch) }

func (c partsCollector) Collect(ch chan<- prometheus.Metric) {
	for part, state := range c.h.Report().Parts {
		c.g.WithLabelValues(part).Set(b2f(state == wire.HealthOK || state == wire.HealthStarting))
	}
	c.g.Collect(ch)
}

// timedProvider measures the QR provider (the local page or the WeChat hub): how long a QR
// code takes, and how often it fails.
type timedProvider struct {
	session.Provider
	seconds prometheus.Histogram
	errors  prometheus.Counter
}

func newTimedProvider(p session.Provider) *timedProvider {
	return &timedProvider{Provider: p,
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "mirror", Name: "qr_request_seconds",
			Help:    "Time to get a photo's QR code from the provider (upload included with the hub).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "mirror", Name: "qr_request_errors_total",
			Help: "QR code requests that failed (the screen says so and retries)."}),
	}
}

func (t *timedProvider) QR(ctx context.Context, p session.Photo, ttl time.Duration) (display.QR, error) {
	start := time.Now()
	qr, err := t.Provider.QR(ctx, p, ttl)
	t.seconds.Observe(time.Since(start).Seconds())
	if err != nil {
		t.errors.Inc()
	}
	return qr, err
}
