package promql

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// grafanaVar is a dashboard variable in a query: $name or ${name}.
var grafanaVar = regexp.MustCompile(`\$\{?(\w+)\}?`)

// substitute puts what Grafana would into the query: a duration for its interval and range
// variables, a value for the dashboard's own variables (they stand inside label matchers).
func substitute(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		switch strings.Trim(v, "${}") {
		case "__range", "__interval", "__rate_interval", "__range_s":
			return "5m"
		}
		return "x"
	})
}

// TestDashboardParsesAsPromQL: every panel's query of the dashboard parses with Prometheus'
// parser, names at least one metric, and names only metrics the hub exports; every query
// variable is label_values over an exported metric.
func TestDashboardParsesAsPromQL(t *testing.T) {
	exported := exportedMetrics(t, "exported-metrics.txt")
	panels, variables := dashboard(t, "../fitmirror-fleet.json")
	p := parser.NewParser(parser.Options{})
	for _, expr := range panels {
		e, err := p.ParseExpr(substitute(expr))
		if err != nil {
			t.Errorf("query %q: %v", expr, err)
			continue
		}
		names := metricsOf(parser.ExtractSelectors(e))
		if len(names) == 0 {
			t.Errorf("query %q selects no metric", expr)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("query %q selects %s, which the hub does not export", expr, n)
			}
		}
	}
	lv := regexp.MustCompile(`^label_values\((\w+),\s*(\w+)\)$`)
	for _, q := range variables {
		m := lv.FindStringSubmatch(q)
		if m == nil || !exported[m[1]] {
			t.Errorf("variable query %q: want label_values(metric, label) over an exported metric", q)
		}
	}
}

// TestSubstituteAndExtract: the test's own tools find what they must, so the test above can fail.
func TestSubstituteAndExtract(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	if _, err := p.ParseExpr(substitute(`sum(rate(a_total[$__rate_interval]))`)); err != nil {
		t.Errorf("a range variable: %v", err)
	}
	if _, err := p.ParseExpr(`sum(rate(a_total[5m])`); err == nil {
		t.Error("an unbalanced query parses")
	}
	if _, err := p.ParseExpr(`max by (state) mirror_cloud_fleet_mirrors`); err == nil {
		t.Error("an aggregation without brackets parses")
	}
	e, err := p.ParseExpr(substitute(`time() - max by (m) (b_seconds{mirror=~"$mirror"}) / on (m) group_left c_info`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(metricsOf(parser.ExtractSelectors(e)), " "); got != "b_seconds c_info" {
		t.Errorf("metrics = %q, want b_seconds c_info", got)
	}
}

// metricsOf returns the metric names the selectors match exactly.
func metricsOf(selectors [][]*labels.Matcher) []string {
	var names []string
	for _, sel := range selectors {
		for _, m := range sel {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				names = append(names, m.Value)
			}
		}
	}
	return names
}

// exportedMetrics reads the list of metric names the hub exports, one a line.
func exportedMetrics(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			names[l] = true
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s lists no metric", path)
	}
	return names
}

// dashboard returns the PromQL of a Grafana dashboard's panels and its query variables.
func dashboard(t *testing.T, path string) (panels, variables []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Type  string
				Query json.RawMessage // {"query": …} for a query variable, a string for others
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil || len(d.Panels) == 0 {
		t.Fatalf("%s: %v (%d panels)", path, err, len(d.Panels))
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			panels = append(panels, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Errorf("%s: a query variable's query: %v", path, err)
		}
		variables = append(variables, q.Query)
	}
	return panels, variables
}
