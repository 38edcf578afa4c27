// Package jpegtest makes the JPEGs that tests and fuzzers of photo handling need: small real
// progressive JPEGs (made with OpenCV's encoder, which Go's cannot make), decompression bombs
// (a real JPEG whose frame header declares another size) and photos padded to a size with
// comment segments.
package jpegtest

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"fmt"
)

var (
	//go:embed progressive.jpg
	progressive []byte
	//go:embed progressive-720p.jpg
	progressive720p []byte
)

// Progressive is a 64×48 progressive JPEG (4:2:0), 1 KB.
func Progressive() []byte { return bytes.Clone(progressive) }

// Progressive720p is a 1280×720 progressive JPEG (4:2:0), 25 KB.
func Progressive720p() []byte { return bytes.Clone(progressive720p) }

// WithSize returns data with its frame header declaring w×h (both at most 65535): the pixels
// that follow no longer match, which is what a decompression bomb is.
func WithSize(data []byte, w, h int) []byte {
	out := bytes.Clone(data)
	for i := 2; i+9 < len(out); {
		m, n := out[i+1], int(binary.BigEndian.Uint16(out[i+2:]))
		if m == 0xc0 || m == 0xc1 || m == 0xc2 {
			binary.BigEndian.PutUint16(out[i+5:], uint16(h))
			binary.BigEndian.PutUint16(out[i+7:], uint16(w))
			return out
		}
		i += 2 + n
	}
	panic("jpegtest: no frame header")
}

// Bomb is a 1 KB progressive JPEG that declares w×h pixels.
func Bomb(w, h int) []byte { return WithSize(progressive, w, h) }

// Padded returns the JPEG data grown to n bytes with comment segments after its start
// marker: still a valid photo that decodes like data. A comment segment is at least 4 bytes,
// so n is len(data) or at least len(data)+4.
func Padded(data []byte, n int) []byte {
	if n < len(data) || n > len(data) && n < len(data)+4 {
		panic(fmt.Sprintf("jpegtest: pad %d bytes to %d", len(data), n))
	}
	out := append(make([]byte, 0, n), data[:2]...)
	for left := n - len(data); left > 0; {
		seg := min(left, 65535+2)
		if seg < 4 {
			seg = 4 // the smallest comment segment; the last one takes what is left over
		}
		if left-seg > 0 && left-seg < 4 {
			seg = left - 4
		}
		out = append(out, 0xff, 0xfe)
		out = binary.BigEndian.AppendUint16(out, uint16(seg-2))
		out = append(out, make([]byte, seg-4)...)
		left -= seg
	}
	return append(out, data[2:]...)
}
