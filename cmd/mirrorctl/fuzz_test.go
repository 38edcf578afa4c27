package main

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzSafe renders any string a mirror may send as mirrorctl shows it: valid UTF-8 with no
// control, bidi or zero-width character left to reach the terminal, at most max characters
// and the ellipsis, and unchanged when it was plain text within max. Seeds:
// testdata/fuzz/FuzzSafe.
func FuzzSafe(f *testing.F) {
	f.Add("online", 200)
	f.Add("\x1b]0;pwned\x07\x1b[2J OK", 200)
	f.Add("abc\u202egnp.exe\u200b", 5)
	f.Add(string([]byte{0xff, 0xfe, 'a'}), 1)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 1 || max > 500 {
			max = 200
		}
		got := safe(s, max)
		if !utf8.ValidString(got) {
			t.Fatalf("safe(%q) = %q, not UTF-8", s, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
				t.Fatalf("safe(%q) = %q keeps %U", s, got, r)
			}
		}
		if n := utf8.RuneCountInString(strings.TrimSuffix(got, "…")); n > 6*max {
			t.Fatalf("safe(%q, %d) is %d characters", s, max, n)
		}
		plain := utf8.ValidString(s) && utf8.RuneCountInString(s) <= max && strings.IndexFunc(s, func(r rune) bool {
			return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
		}) < 0
		if plain && got != s {
			t.Fatalf("safe(%q) = %q, changed plain text", s, got)
		}
		if st := state(s); st != "online" && st != "degraded" && st != "offline" && !strings.HasPrefix(st, "unknown") {
			t.Fatalf("state(%q) = %q", s, st)
		}
	})
}
