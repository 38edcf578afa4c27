package console

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// visible makes a device-supplied string safe to show as one line of text: control
// characters (terminal escapes among them), Unicode format characters (bidirectional
// overrides, zero-width ones) and invalid UTF-8 become visible \x1b / \u202e escapes. The
// pages escape markup besides (html/template, textContent).
func visible(s string) string {
	clean := true
	for _, r := range s {
		if hidden(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x100 && hidden(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case hidden(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func hidden(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}
