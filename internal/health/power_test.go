package health

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// TestPowerWatch: the power part follows the firmware's flags, is degraded while the supply
// is under-voltage now, shows in /healthz with its reason, and is absent without the flags.
func TestPowerWatch(t *testing.T) {
	tr := New(newClock().now)
	if w := WatchPower(tr, func() (wire.Throttled, error) { return wire.Throttled{}, errors.New("not a Pi") }); w != nil {
		t.Errorf("WatchPower without flags = %v, want nil", w)
	}
	if _, ok := tr.Report().Parts[wire.PartPower]; ok {
		t.Fatalf("power part registered without flags: %v", tr.Report().Parts)
	}
	flags, fail := uint32(0x50000), false // under-voltage has occurred, nothing now
	w := WatchPower(tr, func() (wire.Throttled, error) {
		if fail {
			return wire.Throttled{}, errors.New("read error")
		}
		return wire.NewThrottled(flags), nil
	})
	if w == nil {
		t.Fatal("WatchPower with flags = nil")
	}
	if r := tr.Report(); r.Status != wire.HealthOK || r.Parts[wire.PartPower] != wire.HealthOK {
		t.Errorf("occurred but not now: %+v, want ok", r)
	}
	flags = 0x50005
	w.Check()
	rec := httptest.NewRecorder()
	tr.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	var h wire.Health
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
		t.Fatal(err)
	}
	if h.Status != wire.HealthDegraded || h.Parts[wire.PartPower] != "undervoltage" || len(h.Problems) != 1 ||
		!strings.HasPrefix(h.Problems[0].Reason, "undervoltage (throttled=0x50005)") {
		t.Errorf("/healthz under-voltage = %s, want degraded, power undervoltage with the flags", rec.Body)
	}
	fail = true // a failed read keeps what is known
	w.Check()
	if st, _ := tr.State(wire.PartPower); st != "undervoltage" {
		t.Errorf("after a failed read: %s, want undervoltage kept", st)
	}
	fail, flags = false, 0x80008 // soft temperature limit now and before
	w.Check()
	if st, reason := tr.State(wire.PartPower); st != "throttled" || !strings.Contains(reason, "soft-temp-limit (throttled=0x80008)") || !strings.Contains(reason, "hot") {
		t.Errorf("soft temperature limit: %s %q, want throttled, hot", st, reason)
	}
	flags = 0x50002 // capped after an under-voltage
	w.Check()
	if _, reason := tr.State(wire.PartPower); !strings.Contains(reason, "after an under-voltage") {
		t.Errorf("capped after an under-voltage: %q, want the supply named", reason)
	}
	flags = 0
	w.Check()
	if r := tr.Report(); r.Status != wire.HealthOK {
		t.Errorf("flags 0: %+v, want ok", r)
	}
}
