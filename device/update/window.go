package update

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"aead.dev/minisign"
)

// Window is the daily maintenance window (update.window, "02:00-05:00" local time; it may
// wrap midnight). The zero Window is any time.
type Window struct {
	from, to int // minutes after midnight
	set      bool
}

// ParseWindow reads "HH:MM-HH:MM"; "" is any time.
func ParseWindow(s string) (Window, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Window{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	from, err1 := parseClock(a)
	to, err2 := parseClock(b)
	if !ok || err1 != nil || err2 != nil {
		return Window{}, fmt.Errorf("%q: want HH:MM-HH:MM, e.g. 02:00-05:00", s)
	}
	if from == to {
		return Window{}, fmt.Errorf("%q: the window is empty (leave it empty for any time)", s)
	}
	return Window{from: from, to: to, set: true}, nil
}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Contains reports whether t (in its own location) is inside the window.
func (w Window) Contains(t time.Time) bool {
	if !w.set {
		return true
	}
	m := t.Hour()*60 + t.Minute()
	if w.from < w.to {
		return m >= w.from && m < w.to
	}
	return m >= w.from || m < w.to
}

// String is the window as written.
func (w Window) String() string {
	if !w.set {
		return ""
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", w.from/60, w.from%60, w.to/60, w.to%60)
}

// DebianArch is this program's Debian architecture (amd64, arm64, armhf, i386, …), for
// where dpkg cannot be asked.
func DebianArch() string {
	switch runtime.GOARCH {
	case "arm":
		return "armhf"
	case "386":
		return "i386"
	default:
		return runtime.GOARCH
	}
}

// ParsePublicKeys reads minisign public keys: the base64 line of a minisign.pub ("RW…"),
// with or without its "untrusted comment:" line. A key given twice is an error.
func ParsePublicKeys(texts []string) ([]minisign.PublicKey, error) {
	var keys []minisign.PublicKey
	seen := map[uint64]bool{}
	for i, t := range texts {
		var k minisign.PublicKey
		if err := k.UnmarshalText([]byte(strings.TrimSpace(t))); err != nil {
			return nil, fmt.Errorf("key %d (%.12q…): not a minisign public key (the RW… line of minisign.pub): %v", i+1, t,
				strings.TrimPrefix(err.Error(), "minisign: "))
		}
		if seen[k.ID()] {
			return nil, fmt.Errorf("key %d: key %016X is listed twice", i+1, k.ID())
		}
		seen[k.ID()] = true
		keys = append(keys, k)
	}
	return keys, nil
}
