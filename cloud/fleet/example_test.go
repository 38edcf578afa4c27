package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session/store"
)

// The agent's wiring: the durable outbox of the session store, the commands it supports, the
// desired-config hook and the binding callback. Run blocks until the context ends.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	db, err := store.OpenDB("./state/mirror.db")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	tlsCfg, err := fleet.TLSConfig("", "", "") // mqtt.tls.{ca,cert,key}; empty: system roots
	if err != nil {
		log.Fatal(err)
	}
	sys := &fleet.SystemSampler{StateDir: "./state"}
	c, err := fleet.New(fleet.Options{
		Broker:            "mqtts://fleet.example.com:8883", // mqtt.url
		DeviceID:          "store12-mirror3",                // device.id = MQTT username
		TLS:               tlsCfg,
		Version:           "1.4.0",
		TelemetryInterval: 30 * time.Second,
		Telemetry: func(ctx context.Context) wire.Telemetry {
			t := wire.Telemetry{Camera: "ok", Display: "ok"} // and fps, detector time, session, counters
			sys.Fill(&t)                                     // CPU, RSS, SoC temperature, free disk
			return t
		},
		Outbox: db,
		Commands: map[string]fleet.CommandFunc{
			"set-light": func(ctx context.Context, args json.RawMessage) (any, error) {
				var a struct{ Scene string }
				if err := json.Unmarshal(args, &a); err != nil || a.Scene == "" {
					return nil, wire.BadArgs(`want {"scene":"daylight"|…}`)
				}
				return map[string]string{"scene": a.Scene}, nil
			},
		},
		ApplyConfig: func(ctx context.Context, version int64, sets []string) (any, error) {
			// config.Set each "key=value" on a copy, config.Check it, then swap it in.
			return map[string]any{}, nil
		},
		OnBinding: func(ctx context.Context, b wire.Binding) {
			fmt.Println("photo", b.PhotoID, "bound by", b.Event)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

func ExampleFlatten() {
	sets, err := fleet.Flatten(json.RawMessage(`{"presence":{"enter_dwell":"1s","exit_grace":"3s"},"session":{"countdown":5}}`))
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range sets {
		fmt.Println(s)
	}
	// Output:
	// presence.enter_dwell=1s
	// presence.exit_grace=3s
	// session.countdown=5
}

func ExampleTopics() {
	t := wire.Topics{Prefix: wire.DefaultTopicPrefix, Device: "m1"}
	fmt.Println(t.Status())
	fmt.Println(t.Result("ping"))
	// Output:
	// mirror/m1/status
	// mirror/m1/cmd/ping/result
}
