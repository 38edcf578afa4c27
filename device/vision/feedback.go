package vision

import (
	"image"
	"math"
	"sync"

	"github.com/fitmirror/fitmirror/display"
)

// HoldFeedback is what the kiosk shows of the air buttons on one analysed frame: while a
// shopper is engaged, each button that is on (placed inside the frame) with its hold's progress,
// in mirror coordinates — the frame normalised to 0..1 and flipped left to right, because the
// shopper sees themself in the glass the other way round from the camera (the "photo" button, on
// the camera image's left, shows on the screen's right). Not engaged: no buttons.
func HoldFeedback(states []ButtonState, frame image.Point, engaged bool) display.Gestures {
	g := display.Gestures{Buttons: []display.GestureButton{}}
	if !engaged || frame.X <= 0 || frame.Y <= 0 {
		return g
	}
	for _, st := range states {
		if st.Region.Empty() {
			continue
		}
		r := st.Region.Intersect(image.Rectangle{Max: frame})
		fx, fy := float64(frame.X), float64(frame.Y)
		g.Buttons = append(g.Buttons, display.GestureButton{
			Action: st.Action,
			Box: display.Box{X: round3(float64(frame.X-r.Max.X) / fx), Y: round3(float64(r.Min.Y) / fy),
				W: round3(float64(r.Dx()) / fx), H: round3(float64(r.Dy()) / fy)},
			Progress: round3(max(0, min(1, st.Progress))),
			Fired:    st.Fired,
		})
	}
	return g
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// GestureCounts are the air buttons' presses since the pipeline started, for telemetry: fired
// gestures by action, and holds abandoned (0.3 s or more, ended without firing).
type GestureCounts struct {
	Fired     map[string]int64
	Abandoned int64
}

// gestureCounter counts what the buttons did, safe for concurrent use.
type gestureCounter struct {
	mu sync.Mutex
	c  GestureCounts
}

// add counts a frame's presses; an abandoned hold counts only while a shopper is engaged (a
// session is open), as a press does.
func (g *gestureCounter) add(states []ButtonState, engaged bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, st := range states {
		if st.Fired {
			if g.c.Fired == nil {
				g.c.Fired = map[string]int64{}
			}
			g.c.Fired[st.Action]++
		}
		if st.Abandoned > 0 && engaged {
			g.c.Abandoned++
		}
	}
}

func (g *gestureCounter) get() GestureCounts {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := GestureCounts{Fired: map[string]int64{ActionPhoto: 0, ActionNext: 0}, Abandoned: g.c.Abandoned}
	for a, n := range g.c.Fired {
		c.Fired[a] = n
	}
	return c
}
