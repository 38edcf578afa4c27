// Command fleetagent is a small mirror for the fleet's process-level tests: it opens a real
// session store (SQLite), runs a fleet client against a broker and appends events to the
// durable outbox at a steady pace, printing "appended SEQ" for each. SIGTERM or SIGINT stop
// it cleanly (offline status); the tests also SIGKILL it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	var (
		broker   = flag.String("broker", "", "broker URL")
		failover = flag.String("failover", "", "more broker URLs of the same cluster, comma-separated")
		id       = flag.String("id", "", "device ID")
		password = flag.String("password", "", "MQTT password")
		dbPath   = flag.String("db", "", "session store (SQLite) file")
		events   = flag.Int("events", 0, "events to append")
		every    = flag.Duration("every", 100*time.Millisecond, "pause between events")
		recMax   = flag.Duration("reconnect-max", 2*time.Second, "reconnect delay cap")
	)
	flag.Parse()
	db, err := store.OpenDB(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := fleet.New(fleet.Options{
		Broker: *broker, Failover: splitList(*failover), DeviceID: *id, Password: *password, Version: "fleetagent",
		Outbox: db, TelemetryInterval: -1, KeepAlive: 5 * time.Second,
		ReconnectMin: 200 * time.Millisecond, ReconnectMax: *recMax, Logger: logger,
	})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for i := 0; i < *events; i++ {
		ev, err := db.Append(ctx, session.Event{Type: wire.EventSessionOpened, At: time.Now(), SessionID: fmt.Sprintf("s%d", i)})
		if err != nil {
			return err
		}
		fmt.Printf("appended %d\n", ev.Seq)
		select {
		case <-time.After(*every):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Println("done appending")
	return <-done
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
