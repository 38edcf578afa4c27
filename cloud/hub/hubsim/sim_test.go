package hubsim

import (
	"net/url"
	"testing"
)

// The simulator's OAuth page redirects only under public_url, also when public_url has a
// path: a sibling path or a climb out of it with .. is elsewhere.
func TestUnderPublic(t *testing.T) {
	public, _ := url.Parse("https://hub.example/shop")
	for _, tt := range []struct {
		raw string
		ok  bool
	}{
		{"https://hub.example/shop", true},
		{"https://HUB.example/shop/p/P1?x=1", true},
		{"https://hub.example/shopping/p/P1", false},
		{"https://hub.example/shop/../admin", false},
		{"http://hub.example/shop/p/P1", false},
		{"https://user@hub.example/shop/p/P1", false},
		{"https://evil.example/shop/p/P1", false},
		{"/shop/p/P1", false},
		{"%zz", false},
	} {
		if got := underPublic(public, tt.raw); got != tt.ok {
			t.Errorf("underPublic(%q) = %v, want %v", tt.raw, got, tt.ok)
		}
	}
}
