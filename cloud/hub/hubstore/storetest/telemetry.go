package storetest

import (
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// RunTelemetry runs the cases of hubstore.TelemetryStore against st: minutes stored and
// listed from a time on, two replicas' rows for one minute (the one of more messages kept),
// and pruning.
func RunTelemetry(t *testing.T, st hubstore.TelemetryStore) {
	ctx := t.Context()
	m0 := t0.Unix() / 60
	minute := func(dev string, i int64, n int) hubstore.TelemetryMinute {
		return hubstore.TelemetryMinute{Device: dev, Minute: m0 + i, N: n, FPS: 15 * float64(n), CPU: 30 * float64(n), Disk: 900 * float64(n), TN: n, Temp: 50.5 * float64(n)}
	}
	if err := st.AddTelemetry(ctx, []hubstore.TelemetryMinute{minute("m1", 0, 2), minute("m1", 1, 1), minute("m2", 1, 2), minute("m1", 2, 2)}); err != nil {
		t.Fatal(err)
	}
	// Another replica writes the same minutes: it heard more of minute 1, less of minute 2.
	if err := st.AddTelemetry(ctx, []hubstore.TelemetryMinute{minute("m1", 1, 2), minute("m1", 2, 1)}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Telemetry(ctx, "m1", t0.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := []hubstore.TelemetryMinute{minute("m1", 0, 2), minute("m1", 1, 2), minute("m1", 2, 2)}
	if len(got) != len(want) {
		t.Fatalf("Telemetry(m1) = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("minute %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, _ := st.Telemetry(ctx, "m1", t0.Add(2*time.Minute)); len(got) != 1 || got[0].Minute != m0+2 {
		t.Errorf("Telemetry(m1) from minute 2 = %+v, want minute 2 only", got)
	}
	if err := st.PruneTelemetry(ctx, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Telemetry(ctx, "m1", t0); len(got) != 1 || got[0].Minute != m0+2 {
		t.Errorf("after pruning before minute 2, m1 = %+v, want minute 2 only", got)
	}
	if got, _ := st.Telemetry(ctx, "m2", t0); len(got) != 0 {
		t.Errorf("after pruning, m2 = %+v, want nothing", got)
	}
}
