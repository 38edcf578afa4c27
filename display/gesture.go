package display

// Gestures is what the air buttons look like now, for the kiosk's feedback while a shopper is
// engaged (docs/gestures.md): where each button is, as the shopper sees it in the glass, and
// how far a hold in it has come. No buttons: nothing to show (no shopper, gestures off, or no
// face to place them by).
type Gestures struct {
	Buttons []GestureButton `json:"buttons"`
}

// GestureButton is one air button.
type GestureButton struct {
	Action string `json:"action"` // "photo" or "next"
	// Box is the button's region in mirror coordinates: the camera frame normalised to 0..1
	// and flipped left to right, as the shopper sees themself in the glass.
	Box Box `json:"box"`
	// Progress is how far a hold has come, 0 (no hand) to 1 (held for the hold time).
	Progress float64 `json:"progress"`
	// Fired is set on the one update on which the button fired.
	Fired bool `json:"fired,omitempty"`
}

// Box is a rectangle in normalised screen coordinates: X and Y of its top left corner, its
// width and height, each 0..1 of the screen's.
type Box struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}
