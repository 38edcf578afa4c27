package vision

import (
	"context"

	"github.com/fitmirror/fitmirror/session"
)

// Inputs is the session engine as the vision pipeline feeds it; *session.Engine is one.
type Inputs interface {
	Observe(ctx context.Context, o session.Observation)
	Trigger(ctx context.Context, source string)
	Compare(ctx context.Context)
}

var _ Inputs = (*session.Engine)(nil)

// Press passes an air-button action to the session engine: ActionPhoto asks for a photo
// (source "gesture", like a button), ActionNext steps through the comparison; other actions
// are ignored. It is what the agent's Pipeline.OnGesture and Replay both do with a press.
func Press(ctx context.Context, in Inputs, action string) {
	switch action {
	case ActionPhoto:
		in.Trigger(ctx, "gesture")
	case ActionNext:
		in.Compare(ctx)
	}
}

// Feed passes one analysed frame to the session engine as the live pipeline does: its
// observation (with the presence decision), then its air-button presses.
func Feed(ctx context.Context, in Inputs, res Result) {
	in.Observe(ctx, res.Observation)
	for _, act := range res.Actions {
		Press(ctx, in, act)
	}
}
