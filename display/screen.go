// Package display holds the Screen model — what the mirror shows — apart from the renderers that
// show it: the kiosk web page (display/kiosk), the framebuffer (display/framebuffer) and a small
// status OLED (display/status), all display.Renderers tested against the same scenes
// (display/displaytest). It also holds what they share about QR codes: the error-correction
// level and the sizing in whole pixels per module for a panel of known size. The panel's power
// schedule is display/power.
//
// The screen sits behind two-way glass: black pixels are mirror, bright pixels shine through.
// Renderers keep the background pure black and put content at the edges.
package display

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// Scene names, as sent to the kiosk page (docs/contracts.md §3).
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

// MarshalJSON writes the times as the contracts' timestamps, RFC 3339 with milliseconds in
// UTC ("2026-11-20T10:00:00.123Z", wire.TimeFormat); issued_at only when set. A time outside
// years 0-9999 is an error, as for time.Time.
func (q QR) MarshalJSON() ([]byte, error) {
	for _, t := range []time.Time{q.ExpiresAt, q.IssuedAt} {
		if y := t.UTC().Year(); y < 0 || y > 9999 {
			return nil, fmt.Errorf("display: QR time %s: year outside 0-9999", t)
		}
	}
	return json.Marshal(struct {
		Content   string    `json:"content"`
		ExpiresAt wire.Time `json:"expires_at"`
		IssuedAt  wire.Time `json:"issued_at,omitzero"`
	}{q.Content, wire.Time{Time: q.ExpiresAt}, wire.Time{Time: q.IssuedAt}})
}

// Screen is one state of the display. Fields are present when they apply to the scene.
type Screen struct {
	Scene     string `json:"scene"`
	SessionID string `json:"session_id,omitempty"`
	PhotoID   string `json:"photo_id,omitempty"`
	Countdown int    `json:"countdown,omitempty"`
	QR        *QR    `json:"qr,omitempty"`
	// Code is a message code (MsgCaptureFailed…) the renderers translate (see Text); Message,
	// when set, is shown as is. The kiosk page gets the words in "message".
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// CompareID is the second photo of the compare scene, shown beside PhotoID.
	CompareID string `json:"compare_photo_id,omitempty"`
}

// Idle is the black screen shown when nobody is at the mirror.
var Idle = Screen{Scene: SceneIdle}

// Renderer shows Screens. Show must not block on slow consumers.
type Renderer interface {
	Show(Screen)
}

// Multi shows every Screen on each of its renderers, in order: the kiosk page, a framebuffer
// and a status display can follow the same session.
type Multi []Renderer

// Show passes s to every renderer.
func (m Multi) Show(s Screen) {
	for _, r := range m {
		r.Show(s)
	}
}
