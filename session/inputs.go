package session

import "context"

// Inputs is the engine's input queue, made before the engine so that the parts that feed it
// (the camera pipeline, the buttons, the photo page, the fleet) can be built first, with a
// working value, in any order: what they send waits in the queue until the engine runs.
// Give it to the engine as Options.Inputs. Its methods are safe for concurrent use.
type Inputs struct{ ch chan input }

// NewInputs returns an empty input queue.
func NewInputs() *Inputs { return &Inputs{ch: make(chan input, 64)} }

func (in *Inputs) send(ctx context.Context, v input) {
	select {
	case in.ch <- v:
	case <-ctx.Done():
	}
}

// Observe feeds one vision observation. It blocks while the engine is busy (back-pressure on
// the camera loop) and returns when ctx ends.
func (in *Inputs) Observe(ctx context.Context, o Observation) { in.send(ctx, obsIn(o)) }

// Trigger asks for a photo (button, gesture, tap); source names which, for the logs.
func (in *Inputs) Trigger(ctx context.Context, source string) { in.send(ctx, triggerIn{source}) }

// Compare puts the current photo beside an earlier one of the same session (side-by-side
// outfits); asked again, it steps back through the earlier photos.
func (in *Inputs) Compare(ctx context.Context) { in.send(ctx, compareIn{}) }

// Bind reports that a shopper scanned the QR code of photoID; event is "subscribe", "SCAN"
// or "local". A photo is bound once; later bindings for it, and bindings for photos no longer
// kept, are ignored.
func (in *Inputs) Bind(ctx context.Context, photoID, event string) {
	in.send(ctx, bindIn{photoID, event})
}

// EndSession closes the open session now (the fleet's end-session command); reason is
// recorded on session.closed.
func (in *Inputs) EndSession(ctx context.Context, reason string) { in.send(ctx, endIn{reason}) }
