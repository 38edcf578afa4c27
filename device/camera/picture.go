package camera

import (
	"errors"
	"fmt"
	"image"

	"gocv.io/x/gocv"
)

// Picture is one frame as the source delivered it, decoded only as far as its user needs.
// From an MJPG file opened with Options.Encoded it is the frame's JPEG, decoded on demand:
// at full size (a photo, the debug view) or at 1/2, 1/4 or 1/8 of it through libjpeg's DCT
// scaling (the analysis, which works on small images), for a fraction of the cost of a full
// decode; a frame nobody looks at is not decoded at all. From the other sources it is the
// decoded frame. Each decode is kept until the next frame. A Picture is reused from frame to
// frame (ReadPicture); it is not safe for concurrent use. Close releases it.
type Picture struct {
	jpeg     []byte
	buf      []byte   // jpeg's storage, reused
	raw      gocv.Mat // the packet as the capture returned it
	size     image.Point
	rotation int
	full     gocv.Mat
	hasFull  bool
	reduced  [2][4]gocv.Mat // [grey][log2 scale − 1]: decodes at 1/2, 1/4, 1/8
	hasRed   [2][4]bool
	spare    gocv.Mat
	made     bool
}

// NewPicture returns an empty Picture for ReadPicture.
func NewPicture() *Picture {
	p := &Picture{raw: gocv.NewMat(), full: gocv.NewMat(), spare: gocv.NewMat(), made: true}
	for g := range p.reduced {
		for i := range p.reduced[g] {
			p.reduced[g][i] = gocv.NewMat()
		}
	}
	return p
}

// reset forgets the last frame's decodes.
func (p *Picture) reset() {
	p.hasFull, p.hasRed, p.jpeg, p.size = false, [2][4]bool{}, nil, image.Point{}
}

// Encoded says whether the frame is held encoded (decoded on demand) rather than decoded.
func (p *Picture) Encoded() bool { return p.jpeg != nil }

// JPEG is the frame's encoded bytes while Encoded (valid until the next frame), else nil.
func (p *Picture) JPEG() []byte { return p.jpeg }

// Size is the frame's full size (after rotation), whatever it was decoded at.
func (p *Picture) Size() image.Point { return p.size }

// Full is the frame at full size in BGR (decoded now when it is encoded). The Mat belongs
// to the Picture and is valid until the next frame.
func (p *Picture) Full() (gocv.Mat, error) {
	if !p.hasFull {
		if err := p.decode(&p.full, 1, false); err != nil {
			return p.full, err
		}
		p.hasFull = true
	}
	return p.full, nil
}

// Reduced is the frame at about 1/k of its size (k = 2, 4 or 8; other values are rounded
// down to one of those, below 2 to the full frame), in grey when grey is set and the frame
// is encoded. A decoded frame is returned as it is, at full size and in colour: the caller
// shrinks it. Callers read the scale from the Mat's size against Size. The Mat belongs to
// the Picture and is valid until the next frame.
func (p *Picture) Reduced(k int, grey bool) (gocv.Mat, error) {
	i := scaleIndex(k)
	if i < 0 || !p.Encoded() {
		return p.Full()
	}
	g := 0
	if grey {
		g = 1
	}
	if !p.hasRed[g][i] {
		if err := p.decode(&p.reduced[g][i], 2<<i, grey); err != nil {
			return p.reduced[g][i], err
		}
		p.hasRed[g][i] = true
	}
	return p.reduced[g][i], nil
}

// scaleIndex is the reduced decode for 1/k: 0 for 1/2, 1 for 1/4, 2 for 1/8; -1 for full size.
func scaleIndex(k int) int {
	switch {
	case k >= 8:
		return 2
	case k >= 4:
		return 1
	case k >= 2:
		return 0
	}
	return -1
}

// decodeFlags are imdecode's flags for a decode at 1/k (1, 2, 4, 8), in grey or colour.
func decodeFlags(k int, grey bool) gocv.IMReadFlag {
	colour := map[int]gocv.IMReadFlag{1: gocv.IMReadColor, 2: gocv.IMReadReducedColor2, 4: gocv.IMReadReducedColor4, 8: gocv.IMReadReducedColor8}
	mono := map[int]gocv.IMReadFlag{1: gocv.IMReadGrayScale, 2: gocv.IMReadReducedGrayscale2, 4: gocv.IMReadReducedGrayscale4, 8: gocv.IMReadReducedGrayscale8}
	if grey {
		return mono[k]
	}
	return colour[k]
}

// errNoFrame is a Picture asked for pixels before any frame was read into it.
var errNoFrame = errors.New("camera: picture holds no frame")

// ErrCorruptFrame is a frame whose JPEG libjpeg cannot decode: one bad frame of an input that
// goes on, not a broken camera. Callers skip the frame.
var ErrCorruptFrame = errors.New("corrupt JPEG")

// decode decodes the JPEG at 1/k into dst and turns it by the rotation.
func (p *Picture) decode(dst *gocv.Mat, k int, grey bool) error {
	if !p.Encoded() {
		if p.hasFull {
			return nil
		}
		return errNoFrame
	}
	m, err := gocv.IMDecode(p.jpeg, decodeFlags(k, grey))
	if err != nil || m.Empty() {
		m.Close()
		return fmt.Errorf("camera: frame %d×%d: %w", p.size.X, p.size.Y, ErrCorruptFrame)
	}
	dst.Close()
	*dst = m
	rotate(dst, &p.spare, p.rotation)
	return nil
}

// Close releases the Picture's memory.
func (p *Picture) Close() error {
	if !p.made {
		return nil
	}
	p.made = false
	for _, m := range []*gocv.Mat{&p.raw, &p.full, &p.spare} {
		m.Close()
	}
	for g := range p.reduced {
		for i := range p.reduced[g] {
			p.reduced[g][i].Close()
		}
	}
	return nil
}

// PictureOf wraps a decoded BGR frame as a Picture (which then never decodes): for callers
// that hold a Mat and code that takes a Picture. The Mat stays the caller's; Close the
// Picture to release the wrapper only.
func PictureOf(frame gocv.Mat) *Picture {
	return &Picture{full: frame, hasFull: true, size: image.Pt(frame.Cols(), frame.Rows())}
}

// jpegSize reads a JPEG's width and height from its frame header (SOFn) without decoding it.
func jpegSize(b []byte) (image.Point, bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return image.Point{}, false
	}
	for i := 2; i+9 < len(b); {
		if b[i] != 0xFF {
			return image.Point{}, false
		}
		m := b[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			h := int(b[i+5])<<8 | int(b[i+6])
			w := int(b[i+7])<<8 | int(b[i+8])
			return image.Pt(w, h), w > 0 && h > 0
		}
		if m == 0xDA || n < 2 { // the scan starts before any frame header: not a JPEG we read
			return image.Point{}, false
		}
		i += 2 + n
	}
	return image.Point{}, false
}
