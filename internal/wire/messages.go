package wire

import (
	"encoding/json"
	"fmt"
)

// States of a mirror in [Status].
const (
	StateOnline   = "online"
	StateDegraded = "degraded"
	StateOffline  = "offline"
)

// Status is the retained payload of mirror/{id}/status.
type Status struct {
	State   string `json:"state"`
	Since   Time   `json:"since"`
	Version string `json:"version,omitempty"`
	// TargetVersion is the version an update is installing, while one runs (absent otherwise).
	TargetVersion string `json:"target_version,omitempty"`
	// Arch is the mirror's Debian architecture (amd64, arm64, armhf): which release it takes.
	Arch   string `json:"arch,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// WillPayload is the Last Will on mirror/{id}/status, published by the broker when a mirror
// vanishes without a clean disconnect.
const WillPayload = `{"state":"offline","reason":"connection lost"}`

// Telemetry is the payload of mirror/{id}/telemetry. The agent fills what it measures; the
// fleet client sets At, UptimeS and OutboxDepth.
type Telemetry struct {
	At      Time  `json:"at"`
	UptimeS int64 `json:"uptime_s"`
	// Version is the running version, TargetVersion the one an update is installing (absent
	// when none is), as in the status.
	Version       string   `json:"version,omitempty"`
	TargetVersion string   `json:"target_version,omitempty"`
	FPS           float64  `json:"fps"`
	DetectMSP50   float64  `json:"detect_ms_p50"`
	CPUPct        float64  `json:"cpu_pct"`
	RSSMB         float64  `json:"rss_mb"`
	TempC         *float64 `json:"temp_c,omitempty"` // nil where the SoC temperature is not readable
	// Throttled is the Raspberry Pi firmware's throttling and under-voltage flags (nil where
	// the firmware does not report them).
	Throttled  *Throttled `json:"throttled,omitempty"`
	DiskFreeMB float64    `json:"disk_free_mb"`
	Camera     string     `json:"camera,omitempty"`  // ok, starting, lost, frozen
	Display    string     `json:"display,omitempty"` // ok, starting, lost
	// Problems are the parts that are not healthy, with their reasons (absent when none).
	Problems    []Problem        `json:"problems,omitempty"`
	Session     TelemetrySession `json:"session"`
	OutboxDepth int              `json:"outbox_depth"`
	// OutboxDropped counts events the outbox bound dropped since start (absent when zero).
	OutboxDropped int64    `json:"outbox_dropped,omitempty"`
	Counters      Counters `json:"counters"`
}

// TelemetrySession is the session part of [Telemetry].
type TelemetrySession struct {
	State string `json:"state"`
	ID    string `json:"id,omitempty"`
}

// Counters are the mirror's counters since start.
type Counters struct {
	Sessions int64 `json:"sessions"`
	Photos   int64 `json:"photos"`
	QRShown  int64 `json:"qr_shown"`
	Bound    int64 `json:"bound"`
	// Gestures counts the air buttons' presses, with presence.gestures on (absent otherwise).
	Gestures *GestureCounters `json:"gestures,omitempty"`
}

// GestureCounters are the air buttons' presses since start (docs/gestures.md): the gestures
// fired by action, and the holds of 0.3 s or more abandoned unfired while a shopper was engaged.
type GestureCounters struct {
	Photo     int64 `json:"photo"`
	Next      int64 `json:"next"`
	Abandoned int64 `json:"abandoned"`
}

// Event is the payload of mirror/{id}/events: one event of the mirror's durable outbox,
// numbered by seq (increasing, never reused on one mirror).
type Event struct {
	Seq       uint64          `json:"seq"`
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	At        Time            `json:"at"`
	SessionID string          `json:"session_id,omitempty"`
	PhotoID   string          `json:"photo_id,omitempty"`
	Data      json.RawMessage `json:"data"`
}

// MarshalJSON writes the event with "data" always an object ({} when the event has none).
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	if len(e.Data) == 0 {
		e.Data = json.RawMessage("{}")
	}
	return json.Marshal(plain(e))
}

// CommandRequest is the payload of mirror/{id}/cmd/{name}.
type CommandRequest struct {
	ID        string          `json:"id"`
	Args      json.RawMessage `json:"args,omitempty"`
	ExpiresAt *Time           `json:"expires_at,omitempty"`
}

// CommandResult is the payload of mirror/{id}/cmd/{name}/result.
type CommandResult struct {
	ID    string          `json:"id"`
	OK    bool            `json:"ok"`
	Data  json.RawMessage `json:"data,omitempty"`
	Error *Error          `json:"error,omitempty"`
}

// Error codes in command results and reported configuration.
const (
	CodeUnknownCommand = "unknown_command"
	CodeBadArgs        = "bad_args"
	CodeExpired        = "expired"
	CodeForbidden      = "forbidden" // e.g. snapshot without fleet.allow_snapshot
	CodeBusy           = "busy"      // e.g. snapshot while a shopper is at the mirror
	CodeFailed         = "failed"    // the handler returned a plain error
	CodeInvalidConfig  = "invalid_config"
	CodeBadSignature   = "bad_signature" // an update whose minisign signature does not verify
	CodeBadChecksum    = "bad_checksum"  // an update whose size or sha256 does not match
)

// Error is the error of a command result or of a reported configuration. Command handlers
// return it (or wrap it) to choose the code; any other error is reported as "failed".
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// BadArgs returns the error a command handler gives for arguments it cannot use.
func BadArgs(format string, a ...any) error {
	return &Error{Code: CodeBadArgs, Message: fmt.Sprintf(format, a...)}
}

// MaxConfigVersion is the largest desired-configuration version (2^53-1, exact in every JSON
// implementation). A version outside 1..MaxConfigVersion is refused by the mirror and skipped
// by mirrorctl.
const MaxConfigVersion = 1<<53 - 1

// Desired is the retained payload of mirror/{id}/config/desired: a partial configuration
// (nested objects, the same keys as the agent's YAML file) and its version.
type Desired struct {
	Version int64           `json:"version"`
	Config  json.RawMessage `json:"config"`
}

// Reported is the retained payload of mirror/{id}/config/reported.
type Reported struct {
	Version   int64           `json:"version"`
	AppliedAt Time            `json:"applied_at"`
	Config    json.RawMessage `json:"config,omitempty"`
	Error     *Error          `json:"error,omitempty"`
}

// Binding is the payload of mirror/{id}/binding, sent by the hub when a shopper scanned a QR.
type Binding struct {
	BindingID string `json:"binding_id"`
	PhotoID   string `json:"photo_id"`
	Scene     string `json:"scene"`
	Event     string `json:"event"` // subscribe or SCAN
	User      string `json:"user"`  // salted hash of the openid
	At        Time   `json:"at"`
}

// KeptEvent is one event of a mirror as the hub keeps it and the fleet console serves it (GET
// /api/mirrors/{id}/events, newest first; docs/console.md): the device-supplied strings made
// visible as text, data as the mirror sent it, as a string.
type KeptEvent struct {
	Seq       uint64 `json:"seq"`
	Type      string `json:"type"`
	At        string `json:"at"`
	SessionID string `json:"session_id,omitempty"`
	PhotoID   string `json:"photo_id,omitempty"`
	Data      string `json:"data"`
}
