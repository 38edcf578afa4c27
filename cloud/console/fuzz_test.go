package console_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/fitmirror/fitmirror/cloud/console"
)

// FuzzFleetHandle feeds the fleet what mirrors may publish (a status, telemetry or command
// result of any bytes, on a topic of any suffix): the fleet never panics, every mirror is in
// one of the four states, problems sort first, and no string of the listing carries a control
// or format character (what a page or terminal would take as an escape).
func FuzzFleetHandle(f *testing.F) {
	f.Add("m1/status", []byte(`{"state":"degraded","reason":"camera \u001b[31mlost","version":"1.2.3<script>"}`))
	f.Add("m1/telemetry", []byte(`{"fps":15,"cpu_pct":20,"temp_c":50.5,"camera":"lost","problems":[{"part":"camera","state":"lost","reason":"\u202egnp.exe"}]}`))
	f.Add("m1/cmd/ping/result", []byte(`{"id":"x","ok":false,"error":{"code":"busy","message":"\u0007bell"}}`))
	f.Add("m1/status", []byte(`{"state":"rebooting\u0000"}`))
	f.Add("m1/status", []byte{})
	f.Fuzz(func(t *testing.T, suffix string, payload []byte) {
		now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		fl := console.NewFleet("mirror", func() time.Time { return now })
		fl.Handle("mirror/m1/status", []byte(`{"state":"online"}`))
		fl.Handle("mirror/"+suffix, payload)
		ms := fl.Mirrors(90*time.Second, nil)
		rank := map[string]int{console.StateOffline: 0, console.StateSilent: 1, console.StateDegraded: 2, console.StateOnline: 3}
		for i, m := range ms {
			r, ok := rank[m.State]
			if !ok {
				t.Fatalf("%s in state %q", m.ID, m.State)
			}
			if i > 0 && rank[ms[i-1].State] > r {
				t.Fatalf("%s (%s) after %s (%s): problems sort first", m.ID, m.State, ms[i-1].ID, ms[i-1].State)
			}
			strs := []string{m.ID, m.Reason, m.Version, m.TargetVersion, m.Camera, m.LastResult()}
			for _, p := range m.Problems {
				strs = append(strs, p.Part, p.State, p.Reason)
			}
			for _, s := range strs {
				if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\uFFFD' }); i >= 0 {
					t.Fatalf("%s: %q carries a hidden character at %d", m.ID, s, i)
				}
			}
			if _, err := json.Marshal(m); err != nil {
				t.Fatal(err)
			}
		}
	})
}
