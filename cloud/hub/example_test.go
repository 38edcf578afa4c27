package hub_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
)

// Registering a mirror: the credentials are shown once; the store keeps only their hashes.
func ExampleAddDevice() {
	dir, _ := os.MkdirTemp("", "hub-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "hub.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	ctx := context.Background()
	c, _ := hub.AddDevice(ctx, st, "store7-mirror2", time.Now())
	d, _ := st.Device(ctx, "store7-mirror2")
	fmt.Println(c.DeviceID, d.TokenHash != c.Token, hub.CheckMQTT(ctx, st, "store7-mirror2", []byte(c.MQTTPassword)))
	_, err = hub.AddDevice(ctx, st, "store7-mirror2", time.Now())
	fmt.Println(err)
	// Output:
	// store7-mirror2 true true
	// device add: store7-mirror2 is already registered
}
