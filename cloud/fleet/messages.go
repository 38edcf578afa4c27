package fleet

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// TimeFormat is the contracts' timestamp layout: RFC 3339 with milliseconds, in UTC.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Time is a timestamp that marshals in [TimeFormat]; the zero Time marshals as null.
type Time struct{ time.Time }

// MarshalJSON writes the time as "2026-11-20T10:00:00.123Z".
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(TimeFormat))
}

// UnmarshalJSON accepts any RFC 3339 time (and null).
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time: want an RFC 3339 string, got %s", b)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("time: %q is not RFC 3339", s)
	}
	t.Time = v
	return nil
}

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
	Reason  string `json:"reason,omitempty"`
}

// WillPayload is the Last Will on mirror/{id}/status, published by the broker when a mirror
// vanishes without a clean disconnect.
const WillPayload = `{"state":"offline","reason":"connection lost"}`

// Telemetry is the payload of mirror/{id}/telemetry. The agent fills what it measures; the
// client sets At, UptimeS and OutboxDepth.
type Telemetry struct {
	At          Time             `json:"at"`
	UptimeS     int64            `json:"uptime_s"`
	FPS         float64          `json:"fps"`
	DetectMSP50 float64          `json:"detect_ms_p50"`
	CPUPct      float64          `json:"cpu_pct"`
	RSSMB       float64          `json:"rss_mb"`
	TempC       *float64         `json:"temp_c,omitempty"` // nil where the SoC temperature is not readable
	DiskFreeMB  float64          `json:"disk_free_mb"`
	Camera      string           `json:"camera,omitempty"`  // ok, lost, frozen
	Display     string           `json:"display,omitempty"` // ok, lost
	Session     TelemetrySession `json:"session"`
	OutboxDepth int              `json:"outbox_depth"`
	// OutboxDropped counts events the outbox bound dropped since start (an extension of
	// CONTRACTS §1; absent when zero).
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
	CodeFailed         = "failed"    // the handler returned a plain error
	CodeInvalidConfig  = "invalid_config"
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

var deviceIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidDeviceID reports whether id is a device ID: ^[a-z0-9][a-z0-9-]{0,62}$.
func ValidDeviceID(id string) bool { return deviceIDRE.MatchString(id) }

// Topics names the MQTT topics of one mirror.
type Topics struct {
	Prefix string // "mirror" unless configured
	Device string
}

func (t Topics) base() string { return t.Prefix + "/" + t.Device + "/" }

// Status is mirror/{id}/status.
func (t Topics) Status() string { return t.base() + "status" }

// Telemetry is mirror/{id}/telemetry.
func (t Topics) Telemetry() string { return t.base() + "telemetry" }

// Events is mirror/{id}/events.
func (t Topics) Events() string { return t.base() + "events" }

// Command is mirror/{id}/cmd/{name}.
func (t Topics) Command(name string) string { return t.base() + "cmd/" + name }

// Result is mirror/{id}/cmd/{name}/result.
func (t Topics) Result(name string) string { return t.base() + "cmd/" + name + "/result" }

// Desired is mirror/{id}/config/desired.
func (t Topics) Desired() string { return t.base() + "config/desired" }

// Reported is mirror/{id}/config/reported.
func (t Topics) Reported() string { return t.base() + "config/reported" }

// Binding is mirror/{id}/binding.
func (t Topics) Binding() string { return t.base() + "binding" }

// DeviceOf returns the device ID of a topic under prefix ("mirror/m1/status" → "m1").
func DeviceOf(prefix, topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "/")
	return id, ok && id != ""
}
