package hub

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fitmirror/fitmirror/cloud/wechat"
)

// Metrics are the hub's Prometheus metrics, on a registry of their own.
type Metrics struct {
	reg             *prometheus.Registry
	callbacks       *prometheus.CounterVec
	callbackSeconds prometheus.Histogram
	bindings        prometheus.Counter
	publishErrors   prometheus.Counter
	acked           prometheus.Counter
	custom          *prometheus.CounterVec
	qrs             *prometheus.CounterVec
	photos          prometheus.Counter
	photosRefused   prometheus.Counter
	purged          prometheus.Counter
	wechatSeconds   *prometheus.HistogramVec
	wechatErrors    *prometheus.CounterVec
}

// NewMetrics creates the metrics and their registry (with Go and process collectors).
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mirror_cloud_callbacks_total",
			Help: "WeChat pushes handled, by result (bound, duplicate, ignored, unknown_scene, expired_scene, unauthorized, bad_request, too_large, error)."}, []string{"result"}),
		callbackSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mirror_cloud_callback_seconds",
			Help: "Time to answer a WeChat push.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		bindings:      prometheus.NewCounter(prometheus.CounterOpts{Name: "mirror_cloud_bindings_published_total", Help: "Binding publishes the broker took (re-deliveries until the mirror acknowledges included)."}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "mirror_cloud_binding_publish_errors_total", Help: "Failed binding publishes (retried)."}),
		acked:         prometheus.NewCounter(prometheus.CounterOpts{Name: "mirror_cloud_bindings_acked_total", Help: "Bindings the mirrors acknowledged."}),
		custom: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mirror_cloud_custom_messages_total",
			Help: "Customer-service messages sent as the fallback way to the shopper, by kind (news, image) and result (ok, error)."}, []string{"kind", "result"}),
		qrs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mirror_cloud_qrcodes_total",
			Help: "QR code requests that reached WeChat, by result (ok, wechat_error, unavailable)."}, []string{"result"}),
		photos:        prometheus.NewCounter(prometheus.CounterOpts{Name: "mirror_cloud_photos_stored_total", Help: "Photos stored."}),
		photosRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "mirror_cloud_photos_refused_total", Help: "Uploads refused because they were not a JPEG within the photo limits (415, 422)."}),
		purged:        prometheus.NewCounter(prometheus.CounterOpts{Name: "mirror_cloud_photos_purged_total", Help: "Photos deleted (unscanned after their QR codes expired, scanned after the retention)."}),
		wechatSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mirror_cloud_wechat_call_seconds",
			Help: "Official Account API calls, by operation, retries included.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}, []string{"op"}),
		wechatErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mirror_cloud_wechat_errors_total",
			Help: "Failed Official Account API calls, by operation and errcode (\"transport\" when WeChat was not reached)."}, []string{"op", "errcode"}),
	}
	m.reg.MustRegister(m.callbacks, m.callbackSeconds, m.bindings, m.publishErrors, m.acked, m.custom, m.qrs, m.photos, m.photosRefused, m.purged,
		m.wechatSeconds, m.wechatErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveWeChat records one Official Account API call (wechat.Options.OnCall).
func (m *Metrics) ObserveWeChat(op string, d time.Duration, err error) {
	m.wechatSeconds.WithLabelValues(op).Observe(d.Seconds())
	if err == nil {
		return
	}
	code := "transport"
	if e, ok := wechat.AsError(err); ok {
		code = strconv.Itoa(e.Code)
	}
	m.wechatErrors.WithLabelValues(op, code).Inc()
}

// Registry is where more collectors (the broker's) can register.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
