package hub_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/wechat"
)

// WeChat calls show on /metrics: latency by operation, errors by operation and errcode.
func TestMetricsWeChatCalls(t *testing.T) {
	m := hub.NewMetrics()
	m.ObserveWeChat("qrcode/create", 30*time.Millisecond, nil)
	m.ObserveWeChat("qrcode/create", 20*time.Millisecond, &wechat.Error{Code: 45009, Msg: "quota"})
	m.ObserveWeChat("media/upload", time.Second, errors.New("dial tcp: connection refused"))
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`mirror_cloud_wechat_call_seconds_count{op="qrcode/create"} 2`,
		`mirror_cloud_wechat_errors_total{errcode="45009",op="qrcode/create"} 1`,
		`mirror_cloud_wechat_errors_total{errcode="transport",op="media/upload"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
