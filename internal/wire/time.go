package wire

import (
	"encoding/json"
	"fmt"
	"time"
)

// TimeFormat is the contracts' timestamp layout: RFC 3339 with milliseconds, in UTC.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// FormatTime writes t in [TimeFormat] ("2026-11-20T10:00:00.123Z").
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// Time is a timestamp that marshals in [TimeFormat]; the zero Time marshals as null.
type Time struct{ time.Time }

// MarshalJSON writes the time as "2026-11-20T10:00:00.123Z".
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(FormatTime(t.Time))
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
