package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// replica is a console on loopback over its own connection to the shared database.
type replica struct {
	env
	st     sharedStore
	closed sync.Once
	stop   context.CancelFunc
	halted chan struct{}
}

func startReplica(t *testing.T, clk *clock, open func() (sharedStore, error)) *replica {
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{st: st, halted: make(chan struct{})}
	t.Cleanup(r.close)
	r.fleet = console.NewFleet("mirror", clk.Now)
	if r.con, err = console.New(console.Options{Store: st, Telemetry: st, Fleet: r.fleet, Publisher: &recorder{}, Now: clk.Now}); err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewServer(r.con.Handler())
	t.Cleanup(r.srv.Close)
	ctx, stop := context.WithCancel(t.Context())
	r.stop = stop
	go func() { r.con.Run(ctx); close(r.halted) }()
	t.Cleanup(r.halt)
	return r
}

// halt stops the replica's console (it stores the minutes it heard) and waits for it.
func (r *replica) halt() {
	r.stop()
	<-r.halted
}

// close closes its database connection (once).
func (r *replica) close() { r.closed.Do(func() { r.st.Close() }) }

// chart is GET /api/mirrors/m1/telemetry's points as an operator sees them.
func (r *replica) chart(t *testing.T, pw string) []console.Point {
	t.Helper()
	resp, body := r.login(t, "ada", pw).get(t, "/api/mirrors/m1/telemetry")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("telemetry: %s %s", resp.Status, body)
	}
	var v struct{ Points []console.Point }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return v.Points
}

// The charts' history is in the database: a console that heard 90 minutes of a mirror's
// telemetry stops (a restart), a new one on the same database shows the same 90 minutes, and
// so does a second replica on it that heard none of them; the minute both hear next is on
// both once.
func TestTelemetryKeptAcrossRestart(t *testing.T) {
	onEachDatabase(t, keptAcrossRestart)
}

func keptAcrossRestart(t *testing.T, open func() (sharedStore, error)) {
	clk := newClock()
	first := startReplica(t, clk, open)
	pw := first.addOperatorTo(t, first.st)
	status := []byte(`{"state":"online"}`)
	first.fleet.Handle("mirror/m1/status", status)
	for i := range 90 {
		for j := range 2 {
			first.fleet.Handle("mirror/m1/telemetry", []byte(fmt.Sprintf(`{"fps":%d,"cpu_pct":%d,"disk_free_mb":900,"temp_c":%d.5}`, i, 10+j, 40+j)))
			clk.Add(30 * time.Second)
		}
	}
	clk.Add(-time.Second) // still in the last minute: a restart within it
	before := first.chart(t, pw)
	if len(before) != 90 || before[89].FPS != 89 || before[0].CPU != 10.5 || *before[0].Temp != 41 {
		t.Fatalf("first console: %d points, want 90 (last %+v)", len(before), before[len(before)-1])
	}
	first.halt()
	first.close()

	restarted := startReplica(t, clk, open)
	other := startReplica(t, clk, open)
	for _, r := range []*replica{restarted, other} {
		r.fleet.Handle("mirror/m1/status", status) // the retained status
		if got := r.chart(t, pw); !samePoints(got, before) {
			t.Fatalf("after the restart: %d points, want the 90 before it\n got %+v\nwant %+v", len(got), got, before)
		}
	}
	clk.Add(time.Minute)
	for _, r := range []*replica{restarted, other} { // both hear the mirror over MQTT
		r.fleet.Handle("mirror/m1/telemetry", []byte(`{"fps":99,"cpu_pct":5,"disk_free_mb":800}`))
	}
	restarted.halt() // stores its minute; the other still has it in memory only
	for _, r := range []*replica{restarted, other} {
		got := r.chart(t, pw)
		if len(got) != 91 || !samePoints(got[:90], before) || got[90].FPS != 99 || got[90].Temp != nil {
			t.Fatalf("with the next minute: %d points, want the 90 and one of fps 99 without a temperature: %+v", len(got), got[len(got)-1])
		}
	}
}

// addOperatorTo adds the operator ada (an admin) to st.
func (e *env) addOperatorTo(t *testing.T, st hubstore.ConsoleStore) string {
	pw := "pw-of-ada-123456"
	if _, err := console.AddOperator(t.Context(), st, "ada", hubstore.RoleAdmin, pw, time.Now()); err != nil {
		t.Fatal(err)
	}
	return pw
}

func samePoints(a, b []console.Point) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.At.Equal(y.At) || x.FPS != y.FPS || x.CPU != y.CPU || x.Disk != y.Disk || (x.Temp == nil) != (y.Temp == nil) ||
			(x.Temp != nil && *x.Temp != *y.Temp) {
			return false
		}
	}
	return true
}
