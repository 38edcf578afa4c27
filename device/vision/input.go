package vision

import (
	"context"

	"github.com/fitmirror/fitmirror/session"
)

// Feed hands one analysed frame to the session engine's inputs the way the agent wires its
// pipeline (Observe → Inputs.Observe, OnGesture = GesturesTo): the observation, with the
// presence decision, then the frame's air-button presses. Replay feeds every frame with it.
func Feed(ctx context.Context, in *session.Inputs, res Result) {
	in.Observe(ctx, res.Observation)
	if len(res.Actions) == 0 {
		return
	}
	press := GesturesTo(in)
	for _, act := range res.Actions {
		press(ctx, act)
	}
}
