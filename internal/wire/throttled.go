package wire

import (
	"fmt"
	"strings"
)

// The Raspberry Pi firmware's throttling flags (get_throttled): bits 0–3 are conditions
// present now, bits 16–19 the same conditions that have occurred (the firmware's sticky bits).
const (
	ThrottleUnderVoltage  = 1 << 0 // the supply is below 4.63 V
	ThrottleFreqCapped    = 1 << 1 // the ARM frequency is capped
	ThrottleThrottled     = 1 << 2 // the SoC is throttled
	ThrottleSoftTempLimit = 1 << 3 // the soft temperature limit is active
	throttleOccurredShift = 16
)

var throttleNames = []struct {
	bit  uint32
	name string
}{
	{ThrottleUnderVoltage, "under-voltage"},
	{ThrottleFreqCapped, "freq-capped"},
	{ThrottleThrottled, "throttled"},
	{ThrottleSoftTempLimit, "soft-temp-limit"},
}

// Throttled is telemetry's "throttled" object: the firmware's flags as it gives them, and
// their names, now and occurred.
type Throttled struct {
	Flags    string   `json:"flags"`              // like "0x50005"
	Now      []string `json:"now,omitempty"`      // under-voltage, freq-capped, throttled, soft-temp-limit
	Occurred []string `json:"occurred,omitempty"` // the same names, for the sticky bits
}

// NewThrottled decodes the firmware's flags.
func NewThrottled(flags uint32) Throttled {
	t := Throttled{Flags: fmt.Sprintf("%#x", flags)}
	if flags == 0 {
		t.Flags = "0x0"
	}
	for _, n := range throttleNames {
		if flags&n.bit != 0 {
			t.Now = append(t.Now, n.name)
		}
		if flags&(n.bit<<throttleOccurredShift) != 0 {
			t.Occurred = append(t.Occurred, n.name)
		}
	}
	return t
}

// Has says whether a condition (one of the names in Now) is present now.
func (t Throttled) Has(name string) bool {
	for _, n := range t.Now {
		if n == name {
			return true
		}
	}
	return false
}

// String is like "under-voltage, throttled (throttled=0x50005)".
func (t Throttled) String() string {
	now := "none now"
	if len(t.Now) > 0 {
		now = strings.Join(t.Now, ", ")
	}
	return now + " (throttled=" + t.Flags + ")"
}
