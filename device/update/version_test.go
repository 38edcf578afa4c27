package update_test

import (
	"os/exec"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/device/update"
)

// TestCompareVersions agrees with dpkg --compare-versions on the versions the project makes
// (make deb's 0.1.0+git<hash>) and on Debian's corner cases (~, epochs, revisions).
func TestCompareVersions(t *testing.T) {
	pairs := [][2]string{{"1.0.0", "2.0.0"}, {"1.0.0", "1.0.0"}, {"1.10", "1.9"}, {"1.0~rc1", "1.0"}, {"1.0", "1.0+git1"},
		{"0.1.0+gitabc", "0.1.0+gitabd"}, {"1:0.1", "2.0"}, {"1.0-1", "1.0-2"}, {"1.0-10", "1.0-9"}, {"1.0a", "1.0"}, {"1.0", "1.0.0"},
		{"2.0~~", "2.0~"}, {"1.01", "1.1"}, {"0.9", "1.0.0"}}
	for _, p := range pairs {
		got := update.CompareVersions(p[0], p[1])
		for op, want := range map[string]bool{"lt": got < 0, "eq": got == 0, "gt": got > 0} {
			err := exec.Command("dpkg", "--compare-versions", p[0], op, p[1]).Run()
			if (err == nil) != want {
				t.Errorf("CompareVersions(%q, %q) = %d, but dpkg says %s is %v", p[0], p[1], got, op, err == nil)
			}
		}
	}
}

// TestParseWindow: HH:MM-HH:MM, across midnight too; bad input is named.
func TestParseWindow(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 1, 1, h, m, 0, 0, time.Local) }
	w, err := update.ParseWindow("22:30-05:00")
	if err != nil || w.String() != "22:30-05:00" {
		t.Fatalf("ParseWindow = %v, %v", w, err)
	}
	for _, c := range []struct {
		t  time.Time
		in bool
	}{{at(23, 0), true}, {at(4, 59), true}, {at(5, 0), false}, {at(12, 0), false}, {at(22, 30), true}} {
		if w.Contains(c.t) != c.in {
			t.Errorf("22:30-05:00 contains %s = %v", c.t.Format("15:04"), !c.in)
		}
	}
	if (update.Window{}).Contains(at(12, 0)) != true {
		t.Error("the empty window is not any time")
	}
	for _, bad := range []string{"2-5", "02:00", "25:00-03:00", "03:00-03:00"} {
		if _, err := update.ParseWindow(bad); err == nil {
			t.Errorf("ParseWindow(%q) accepted", bad)
		}
	}
}
