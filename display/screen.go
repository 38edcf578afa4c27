// Package display holds the Screen model — what the mirror shows — apart from the renderers that
// show it (the kiosk web page in display/kiosk, later a framebuffer and small status displays).
//
// The screen sits behind two-way glass: black pixels are mirror, bright pixels shine through.
// Renderers keep the background pure black and put content at the edges.
package display

import "time"

// Scene names, as sent to the kiosk page (CONTRACTS §3).
const (
	SceneIdle      = "idle"
	SceneWelcome   = "welcome"
	SceneCountdown = "countdown"
	SceneReview    = "review"
	SceneQR        = "qr"
	SceneBound     = "bound"
	SceneCompare   = "compare"
	SceneGoodbye   = "goodbye"
	SceneError     = "error"
)

// QR is a QR code on screen: the exact text it encodes and when it stops working.
type QR struct {
	Content   string    `json:"content"`
	ExpiresAt time.Time `json:"expires_at"`
	// IssuedAt, when set, is when the code started to work; renderers draw the expiry ring as
	// the share of IssuedAt..ExpiresAt left. Unset, a renderer counts from when it first
	// showed the code.
	IssuedAt time.Time `json:"issued_at,omitzero"`
}

// Screen is one state of the display. Fields are present when they apply to the scene.
type Screen struct {
	Scene     string `json:"scene"`
	SessionID string `json:"session_id,omitempty"`
	PhotoID   string `json:"photo_id,omitempty"`
	Countdown int    `json:"countdown,omitempty"`
	QR        *QR    `json:"qr,omitempty"`
	Message   string `json:"message,omitempty"`
	// CompareID is the second photo of the compare scene, shown beside PhotoID.
	CompareID string `json:"compare_photo_id,omitempty"`
}

// Idle is the black screen shown when nobody is at the mirror.
var Idle = Screen{Scene: SceneIdle}

// Renderer shows Screens. Show must not block on slow consumers.
type Renderer interface {
	Show(Screen)
}
