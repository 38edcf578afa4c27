package display

import (
	"math"
	"testing"
)

func TestParseQRLevel(t *testing.T) {
	tests := []struct {
		in   string
		want QRLevel
		ok   bool
	}{
		{"", QRLevelQ, true}, {"L", QRLevelL, true}, {"m", QRLevelM, true}, {"Q", QRLevelQ, true},
		{"h", QRLevelH, true}, {"X", "", false}, {"QQ", "", false}, {"high", "", false},
	}
	for _, tt := range tests {
		got, err := ParseQRLevel(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseQRLevel(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestQRLevelsDiffer: a higher level makes a bigger symbol for the same content.
func TestQRLevelsDiffer(t *testing.T) {
	const content = "http://weixin.qq.com/q/02Vw2GRH0zd3h1Mx5n1xxx"
	var prev int
	for _, l := range []QRLevel{QRLevelL, QRLevelM, QRLevelQ, QRLevelH} {
		m, err := QRModules(content, l)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) < prev {
			t.Errorf("level %s: %d modules, fewer than the level below (%d)", l, len(m), prev)
		}
		prev = len(m)
		// The quiet zone: 4 light modules on every side.
		for i := range m {
			for q := range 4 {
				if m[q][i] || m[i][q] || m[len(m)-1-q][i] || m[i][len(m)-1-q] {
					t.Fatalf("level %s: dark module in the quiet zone", l)
				}
			}
		}
	}
	if _, err := QRModules(string(make([]byte, 4000)), QRLevelH); err == nil {
		t.Errorf("QRModules(4000 bytes) = nil error, want too long")
	}
}

func TestPanelPixelsPerMM(t *testing.T) {
	tests := []struct {
		p    Panel
		w, h int
		want float64
	}{
		{Panel{}, 1080, 1920, 0},
		{Panel{DPI: 254}, 1080, 1920, 10},
		{Panel{DPI: 254, DiagonalIn: 43}, 1080, 1920, 10}, // DPI wins
		{Panel{DiagonalIn: 43}, 1080, 1920, math.Hypot(1080, 1920) / (43 * 25.4)},
		{Panel{DiagonalIn: 43}, 0, 0, 0},
	}
	for _, tt := range tests {
		if got := tt.p.PixelsPerMM(tt.w, tt.h); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%+v.PixelsPerMM(%d, %d) = %v, want %v", tt.p, tt.w, tt.h, got, tt.want)
		}
	}
}

func TestQRScale(t *testing.T) {
	tests := []struct {
		side        int
		ppmm, mm    float64
		maxPx, want int
	}{
		{45, 0, 70, 367, 8},   // size unknown: a third of the screen
		{45, 2.0, 70, 367, 3}, // 43" 1080p portrait (~2 px/mm): 70 mm = 140 px → 3 px modules
		{45, 10, 70, 367, 8},  // fine pitch: the screen limit wins
		{45, 1, 20, 367, 1},   // never below one pixel per module
		{37, 4, 60, 1000, 6},  // 240 px / 37
		{0, 4, 60, 1000, 1},   // no code
		{45, 2.0, 70, 0, 3},   // no screen limit
	}
	for _, tt := range tests {
		if got := QRScale(tt.side, tt.ppmm, tt.mm, tt.maxPx); got != tt.want {
			t.Errorf("QRScale(%d, %v, %v, %d) = %d, want %d", tt.side, tt.ppmm, tt.mm, tt.maxPx, got, tt.want)
		}
	}
}
