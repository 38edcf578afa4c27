package vision

import "testing"

func TestZZProf(t *testing.T) {
	for _, c := range floorClips(t) {
		if c.name == "far-pedestrians" || c.name == "r-webcam-near-far-hand" || c.name == "walk-in-stay-leave" {
			sum, _ := Replay(ReplayOptions{Source: c.path, Presence: DefaultPresence}, func(ReplayEvent) error { return nil })
			t.Logf("%s %+v", c.name, sum)
		}
	}
}
