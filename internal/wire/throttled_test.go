package wire

import (
	"encoding/json"
	"testing"
)

func TestNewThrottled(t *testing.T) {
	for flags, want := range map[uint32]string{
		0:          `{"flags":"0x0"}`,
		0x50005:    `{"flags":"0x50005","now":["under-voltage","throttled"],"occurred":["under-voltage","throttled"]}`,
		0x000f000a: `{"flags":"0xf000a","now":["freq-capped","soft-temp-limit"],"occurred":["under-voltage","freq-capped","throttled","soft-temp-limit"]}`,
	} {
		th := NewThrottled(flags)
		b, _ := json.Marshal(th)
		if string(b) != want {
			t.Errorf("NewThrottled(%#x) = %s, want %s", flags, b, want)
		}
	}
	th := NewThrottled(0x50005)
	if !th.Has("under-voltage") || th.Has("soft-temp-limit") || th.String() != "under-voltage, throttled (throttled=0x50005)" {
		t.Errorf("NewThrottled(0x50005): Has/String = %v %v %q", th.Has("under-voltage"), th.Has("soft-temp-limit"), th.String())
	}
}
