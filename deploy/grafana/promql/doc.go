// Package promql checks the Grafana dashboard (deploy/grafana/fitmirror-fleet.json) with
// Prometheus' own PromQL parser: every query must parse, and every metric it selects must be one
// the hub exports (exported-metrics.txt, which cmd/mirror-cloud's TestGrafanaDashboardQueriesHubMetrics
// keeps equal to a real hub's /metrics).
//
// It is a module of its own so that the parser's dependencies (Prometheus moves
// github.com/gorilla/websocket, which paho links into the agent and the hub, to an untagged
// commit) never reach the programs' build: make test runs it with `cd deploy/grafana/promql &&
// go test ./...`.
package promql
