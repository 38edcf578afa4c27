package display

import (
	"fmt"
	"math"

	"github.com/skip2/go-qrcode"
)

// QRLevel is the error-correction level of the QR codes on screen, by its ISO letter.
type QRLevel string

// The ISO error-correction levels: the share of codewords a scanner can recover.
const (
	QRLevelL QRLevel = "L" // 7 %
	QRLevelM QRLevel = "M" // 15 %
	QRLevelQ QRLevel = "Q" // 25 %, the default
	QRLevelH QRLevel = "H" // 30 %
)

// DefaultQRLevel is Q. The shopper scans with a phone through the two-way glass, which dims the
// code and lays reflections over parts of it; Q recovers a quarter of the symbol yet keeps it
// small, so its modules stay big: a ~45-byte WeChat ticket URL is version 4–5 (33–37 modules)
// at Q against version 6 (41) at H.
const DefaultQRLevel = QRLevelQ

// ParseQRLevel accepts "L", "M", "Q" or "H" (either case); "" means DefaultQRLevel.
func ParseQRLevel(s string) (QRLevel, error) {
	switch s {
	case "":
		return DefaultQRLevel, nil
	case "L", "l", "M", "m", "Q", "q", "H", "h":
		return QRLevel(string(s[0] &^ 0x20)), nil
	}
	return "", fmt.Errorf("qr level %q: must be L, M, Q or H", s)
}

// Recovery is the level in go-qrcode's terms (whose High is ISO Q and Highest ISO H).
func (l QRLevel) Recovery() qrcode.RecoveryLevel {
	switch l {
	case QRLevelL:
		return qrcode.Low
	case QRLevelM:
		return qrcode.Medium
	case QRLevelH:
		return qrcode.Highest
	}
	return qrcode.High
}

// QRModules encodes content and returns its modules, true for dark, with the standard 4-module
// quiet zone on every side: a square of side len(result).
func QRModules(content string, level QRLevel) ([][]bool, error) {
	code, err := qrcode.New(content, level.Recovery())
	if err != nil {
		return nil, fmt.Errorf("qr: encode %d bytes: %w", len(content), err)
	}
	return code.Bitmap(), nil
}

// DefaultQRSizeMM is the physical width of a QR code, quiet zone included, that renderers aim
// for when they know the panel's size: big enough for a phone at 30–60 cm behind glass, small
// enough to sit at the edge of a mirror.
const DefaultQRSizeMM = 70

// Panel is the physical size of the display, so that renderers can size things in millimetres.
// The zero value means unknown.
type Panel struct {
	// DPI is the panel's pixels per inch. It wins over DiagonalIn when both are set.
	DPI float64
	// DiagonalIn is the visible diagonal in inches; with the resolution it gives the DPI.
	DiagonalIn float64
}

// PixelsPerMM returns the panel's pixels per millimetre at a resolution of w×h pixels, or 0
// when the panel's size is unknown.
func (p Panel) PixelsPerMM(w, h int) float64 {
	switch {
	case p.DPI > 0:
		return p.DPI / 25.4
	case p.DiagonalIn > 0 && w > 0 && h > 0:
		return math.Hypot(float64(w), float64(h)) / (p.DiagonalIn * 25.4)
	}
	return 0
}

// QRScale returns the whole number of pixels per module for a code of side modules (quiet zone
// included): the largest scale that keeps the code within maxPx pixels and, when pxPerMM is
// known (> 0), within sizeMM millimetres. It is at least 1: every module is an exact square of
// pixels, never a blurred fraction.
func QRScale(side int, pxPerMM, sizeMM float64, maxPx int) int {
	if side <= 0 {
		return 1
	}
	limit := maxPx
	if pxPerMM > 0 && sizeMM > 0 {
		if px := int(pxPerMM * sizeMM); px < limit || limit <= 0 {
			limit = px
		}
	}
	return max(1, limit/side)
}
