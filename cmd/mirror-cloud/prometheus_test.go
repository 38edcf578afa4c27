package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// promResult is the answer of Prometheus' /api/v1/query.
type promResult struct {
	Status string
	Error  string
	Data   struct {
		ResultType string
		Result     []struct {
			Metric map[string]string
			Value  [2]any // [time, "value"]
		}
	}
}

// startPrometheus starts a real Prometheus (Debian's, scripts/setup.sh installs it) on a free
// loopback port, scraping target (host:port, /metrics) every second, and returns its URL.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus: %v (scripts/setup.sh installs it)", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"+
		"  - job_name: mirror-cloud\n    static_configs:\n      - targets: [%q]\n", target)), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", logs.String())
		}
	})
	return "http://" + addr
}

// promQuery evaluates q at Prometheus now.
func promQuery(t *testing.T, prom, q string) (promResult, error) {
	t.Helper()
	var r promResult
	resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("%s: %v", resp.Status, err)
	}
	if r.Status != "success" {
		return r, fmt.Errorf("%s: %s", r.Status, r.Error)
	}
	return r, nil
}

// grafanaVars are the dashboard's variables as Grafana fills them in: its range, and "All" for
// the mirror filter.
var grafanaVars = strings.NewReplacer("$__range", "5m", "$__rate_interval", "1m", "$mirror", ".*")

// checkDashboardInPrometheus has a real Prometheus scrape the hub and evaluate every query of
// the dashboard: each must be accepted, and the panels that show the mirror the test made must
// show it (online, its fps, its odd version label as sent).
func checkDashboardInPrometheus(t *testing.T, hubURL string, queries []string) {
	t.Helper()
	prom := startPrometheus(t, strings.TrimPrefix(hubURL, "http://"))
	// Three scrapes: increase() and rate() need two samples in their range.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r, err := promQuery(t, prom, `count_over_time(up{job="mirror-cloud"}[1m]) >= 3`)
		if err == nil && len(r.Data.Result) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not scrape the hub three times in 30 s (last: %v %+v)", err, r)
		}
	}
	for _, q := range queries {
		if _, err := promQuery(t, prom, grafanaVars.Replace(q)); err != nil {
			t.Errorf("query %q in Prometheus: %v", q, err)
		}
	}
	for q, want := range map[string]*regexp.Regexp{
		`max(mirror_cloud_fleet_mirrors{state="online"})`:                 regexp.MustCompile(`^1$`),
		`max by (mirror) (mirror_cloud_mirror_fps{mirror=~".*"})`:         regexp.MustCompile(`^m1=14\.5$`),
		`max by (version) (mirror_cloud_fleet_mirrors_by_version)`:        regexp.MustCompile(`^1\.2\.3\\x1b\[2J"\}=1$`), // the escape, as the hub shows it: text
		`sum(increase(mirror_cloud_callbacks_total{result="bound"}[5m]))`: regexp.MustCompile(`^0$`),
	} {
		if !strings.Contains(grafanaVars.Replace(strings.Join(queries, "\n")), q) {
			t.Errorf("the dashboard no longer has %q: update this test", q)
		}
		r, err := promQuery(t, prom, q)
		var got []string
		for _, s := range r.Data.Result {
			v := fmt.Sprint(s.Value[1])
			for _, l := range []string{"mirror", "version"} {
				if s.Metric[l] != "" {
					v = s.Metric[l] + "=" + v
				}
			}
			got = append(got, v)
		}
		if err != nil || !want.MatchString(strings.Join(got, ",")) {
			t.Errorf("%s in Prometheus = %q (%v), want %s", q, got, err, want)
		}
	}
}
