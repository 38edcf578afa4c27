package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/oklog/ulid/v2"
	"gopkg.in/yaml.v3"

	"github.com/fitmirror/fitmirror/cloud/hubclient"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// The hub's /metrics carries the console's fleet gauges and the mirrors' counters once a
// mirror reports, and every query of the shipped Grafana dashboard names only metrics that
// a real hub exports (scraped here, after a QR code and a scan so that the funnel's labelled
// counters exist), and is evaluated by a real Prometheus scraping that hub.
func TestGrafanaDashboardQueriesHubMetrics(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	creds := addDevice(t, state, "m1")
	s := startServe(t, state)
	o := paho.NewClientOptions().AddBroker("tcp://" + s.mqtt).SetClientID("m1").SetUsername("m1").SetPassword(creds.MQTTPassword).SetProtocolVersion(4)
	m := paho.NewClient(o)
	if tok := m.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mirror connect: %v", tok.Error())
	}
	defer m.Disconnect(0)
	st, _ := json.Marshal(wire.Status{State: wire.StateOnline, Version: "1.2.3\x1b[2J\"}", Since: wire.Time{Time: time.Now()}})
	m.Publish("mirror/m1/status", 1, true, st).Wait()
	m.Publish("mirror/m1/telemetry", 1, false, []byte(`{"fps":14.5,"cpu_pct":20,"temp_c":51.5,"disk_free_mb":900,`+
		`"counters":{"sessions":4,"photos":3,"qr_shown":2,"bound":1}}`)).Wait()

	photos := t.TempDir()
	photoID := ulid.Make().String()
	jpg, _ := os.ReadFile("../../testdata/face.jpg")
	os.WriteFile(filepath.Join(photos, photoID+".jpg"), jpg, 0o600)
	p, err := hubclient.New(hubclient.Options{BaseURL: s.http, Token: creds.Token, Photos: filePhotos(photos)})
	if err != nil {
		t.Fatal(err)
	}
	qr, err := p.QR(t.Context(), session.Photo{ID: photoID, SessionID: "S1"}, 0)
	if err != nil {
		t.Fatalf("QR: %v", err)
	}
	if resp, err := http.Post(s.http+"/sim/scan", "application/json", strings.NewReader(`{"qr":"`+qr.Content+`","openid":"o_m"}`)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("sim scan: %v %v", err, resp)
	}

	var text string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		text = get(t, http.DefaultClient, s.http+"/metrics").body
		if strings.Contains(text, `mirror_cloud_mirror_fps{mirror="m1"} 14.5`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics has no fps of m1:\n%s", text)
		}
	}
	for _, want := range []string{`mirror_cloud_fleet_mirrors{state="online"} 1`, `mirror_cloud_fleet_mirrors{state="silent"} 0`,
		`mirror_cloud_fleet_mirrors_by_version{version="1.2.3\\x1b[2J\"}"} 1`, `mirror_cloud_mirror_state{mirror="m1",state="online"} 1`,
		`mirror_cloud_mirror_temperature_celsius{mirror="m1"} 51.5`, `mirror_cloud_mirror_disk_free_bytes{mirror="m1"} 9.437184e+08`,
		`mirror_cloud_mirror_qr_shown_total{mirror="m1"} 2`, `mirror_cloud_mirror_bound_total{mirror="m1"} 1`,
		`mirror_cloud_qrcodes_total{result="ok"} 1`, `mirror_cloud_callbacks_total{result="bound"} 1`} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	checkProvisioning(t, "../../deploy/grafana/provisioning.yaml")
	exported := metricNames(text)
	checkExportedList(t, "../../deploy/grafana/promql/exported-metrics.txt", exported)
	queries := dashboardQueries(t, "../../deploy/grafana/fitmirror-fleet.json")
	for _, q := range queries {
		if !balanced(q) {
			t.Errorf("query %q: unbalanced brackets", q)
		}
		names := promqlMetrics(q)
		if len(names) == 0 {
			t.Errorf("query %q names no metric", q)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("query %q names %s, which the hub does not export", q, n)
			}
		}
	}
	checkDashboardInPrometheus(t, s.http, queries)
}

var update = flag.Bool("update", false, "rewrite deploy/grafana/promql/exported-metrics.txt from the hub's /metrics")

// checkExportedList keeps the list of the hub's metric names, against which the dashboard is
// checked with Prometheus' own parser (deploy/grafana/promql, a module of its own), equal to
// what the hub exports; -update rewrites it.
func checkExportedList(t *testing.T, path string, exported map[string]bool) {
	t.Helper()
	var names []string // the hub's own: the Go runtime's vary with the Go release
	for _, n := range slices.Sorted(maps.Keys(exported)) {
		if strings.HasPrefix(n, "mirror_cloud_") {
			names = append(names, n)
		}
	}
	want := "# The metrics mirror-cloud exports: kept by cmd/mirror-cloud's TestGrafanaDashboardQueriesHubMetrics (-update rewrites it).\n" +
		strings.Join(names, "\n") + "\n"
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != want {
		t.Errorf("%s is not the hub's metrics (%v): run go test ./cmd/mirror-cloud -run TestGrafanaDashboardQueriesHubMetrics -update\nwant:\n%s", path, err, want)
	}
}

// checkProvisioning fails unless path is a Grafana dashboard provisioning file (apiVersion 1)
// with a file provider and its path.
func checkProvisioning(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    struct{ Path string }
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&p); err != nil || p.APIVersion != 1 || len(p.Providers) != 1 || p.Providers[0].Type != "file" ||
		p.Providers[0].Name == "" || !strings.HasPrefix(p.Providers[0].Options.Path, "/") {
		t.Errorf("%s = %+v (%v), want apiVersion 1 and one file provider with an absolute path", path, p, err)
	}
}

// metricNames are the metric names of a Prometheus text exposition.
func metricNames(text string) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		names[line[:strings.IndexAny(line, "{ ")]] = true
	}
	return names
}

// dashboardQueries are the PromQL expressions of a Grafana dashboard: its panels' targets
// and its query variables.
func dashboardQueries(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	var d struct {
		UID    string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Type  string
				Query json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: %v (uid %q, %d panels)", path, err, d.UID, len(d.Panels))
	}
	var qs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			qs = append(qs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		json.Unmarshal(v.Query, &q)
		lv := regexp.MustCompile(`^label_values\((\w+),\s*\w+\)$`).FindStringSubmatch(q.Query)
		if lv == nil {
			t.Errorf("variable query %q: want label_values(metric, label)", q.Query)
			continue
		}
		qs = append(qs, lv[1])
	}
	return qs
}

var (
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|\{[^}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)|\b\d[\w.]*`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
	promqlKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
)

// promqlMetrics are the metric names of a PromQL expression: its identifiers that are not
// functions, aggregations or keywords, outside label matchers, ranges and strings.
func promqlMetrics(expr string) []string {
	expr = promqlStrings.ReplaceAllString(expr, " ")
	var names []string
	for _, id := range promqlIdent.FindAllString(expr, -1) {
		if strings.HasSuffix(id, "(") {
			continue // a function or an aggregation (by (…) is a keyword, taken below)
		}
		id = strings.TrimSpace(id)
		if !slices.Contains(promqlKeywords, id) {
			names = append(names, id)
		}
	}
	return names
}

// promqlMetrics finds the metrics of the dashboard's kinds of query, and only those.
func TestPromQLMetrics(t *testing.T) {
	for expr, want := range map[string]string{
		`sum by (state) (mirror_cloud_fleet_mirrors)`:                                "mirror_cloud_fleet_mirrors",
		`sum(increase(mirror_cloud_callbacks_total{result=~"bound|dup"}[$__range]))`: "mirror_cloud_callbacks_total",
		`time() - last_seen{mirror=~"$mirror"} or sum without (a, b) (up offset 5m)`: "last_seen up",
		`sum(rate(x_total[15m])) * 3600 / on (mirror) group_left (store) store_info`: "x_total store_info",
	} {
		if !balanced(expr) || balanced(expr+")") || balanced("sum("+expr+"]") {
			t.Errorf("balanced(%q) is wrong", expr)
		}
		if got := strings.Join(promqlMetrics(expr), " "); got != want {
			t.Errorf("promqlMetrics(%q) = %q, want %q", expr, got, want)
		}
	}
}

// balanced reports whether the brackets of a PromQL expression pair up (outside strings).
func balanced(expr string) bool {
	var open []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	for _, r := range promqlQuoted.ReplaceAllString(expr, `""`) {
		switch r {
		case '(', '[', '{':
			open = append(open, r)
		case ')', ']', '}':
			if len(open) == 0 || open[len(open)-1] != pairs[r] {
				return false
			}
			open = open[:len(open)-1]
		}
	}
	return len(open) == 0
}

var promqlQuoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
