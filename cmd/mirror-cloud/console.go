package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cmd/internal/liveconfig"
)

// subscriber is the hub's broker connection as the console listens on it (the embedded
// broker in-process, or paho to an external one).
type subscriber interface {
	Subscribe(filter string, fn func(topic string, payload []byte)) error
}

// startConsole serves the fleet console on console.listen (nothing when it is empty): it
// subscribes to the mirrors' status, telemetry and command results on the hub's broker
// connection and runs its listener and alerts in g; the fleet's gauges and the mirrors'
// counters join the hub's /metrics through reg (read at each scrape). It returns the
// console's address.
func startConsole(ctx context.Context, g *errgroup.Group, cfg *Config, st hub.Store, releases hubstore.ReleaseStore, pub hub.Publisher, sub subscriber, reg prometheus.Registerer, log *slog.Logger) (string, error) {
	if cfg.Console.Listen == "" {
		return "", nil
	}
	cs, ok := st.(hubstore.ConsoleStore)
	if !ok || sub == nil {
		return "", errors.New("console: this store or broker connection cannot serve the console")
	}
	fleet := console.NewFleet(cfg.MQTT.TopicPrefix, nil)
	for _, f := range fleet.Filters() {
		// A broker whose ACL predates the console refuses these: the hub still serves WeChat
		// and the mirrors, and the console says nothing of the fleet until the ACL allows them.
		if err := sub.Subscribe(f, fleet.Handle); err != nil {
			log.Warn("console: cannot follow the mirrors (allow "+cfg.MQTT.Username+" to read "+f+", as the shipped ACL does)", "err", err)
		}
	}
	if err := reg.Register(fleet.Collector(cfg.Console.SilentAfter)); err != nil {
		return "", fmt.Errorf("console: fleet metrics: %w", err)
	}
	events, _ := st.(hubstore.MirrorEventStore)
	tele, _ := st.(hubstore.TelemetryStore)
	con, err := console.New(console.Options{Store: cs, Events: events, Telemetry: tele, Fleet: fleet, Publisher: pub, SessionTTL: cfg.Console.SessionTTL,
		CheckConfig: liveconfig.CheckDesired, // the agent's own rules for a desired configuration
		Releases:    releases,
		SilentAfter: cfg.Console.SilentAfter, Logger: log.With("part", "console"),
		Alerts: cfg.alertOptions()})
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", cfg.Console.Listen)
	if err != nil {
		return "", fmt.Errorf("console.listen: %w", err)
	}
	serveHTTP(ctx, g, "console", con.Handler(), ln)
	g.Go(func() error { return con.Run(ctx) })
	return ln.Addr().String(), nil
}
