package camera_test

import (
	"fmt"
	"time"

	"github.com/fitmirror/fitmirror/device/camera"
)

// A Monitor turns frame arrivals into camera.lost / camera.restored.
func ExampleMonitor() {
	m := camera.NewMonitor(camera.MonitorOptions{FrozenAfter: 5 * time.Second, OnChange: func(s camera.Status, why string) {
		fmt.Println(s, "-", why)
	}})
	t0 := time.Unix(0, 0)
	m.Opened(t0)
	m.Frame(t0.Add(time.Second), 1)
	m.Check(t0.Add(7 * time.Second)) // the USB cable was pulled
	m.Frame(t0.Add(9*time.Second), 2)
	// Output:
	// lost - no frame for 6s
	// ok - frames arriving
}
