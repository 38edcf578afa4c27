package framebuffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
)

// DefaultFont is Debian's fonts-wqy-microhei, a CJK font with Latin letters.
const DefaultFont = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"

// typeface is a parsed font with a cache of faces by pixel size.
type typeface struct {
	f *sfnt.Font

	mu    sync.Mutex
	faces map[int]font.Face
}

// loadFont reads a TTF, OTF or TTC file (the first font of a collection).
func loadFont(path string) (*typeface, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("font: %w", err)
	}
	b, err = firstFont(b)
	if err != nil {
		return nil, fmt.Errorf("font %s: %w", path, err)
	}
	f, err := opentype.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("font %s: %w", path, err)
	}
	return &typeface{f: f, faces: make(map[int]font.Face)}, nil
}

// firstFont returns the first font of a TTF, OTF or TTC file as a standalone font file whose
// tables start on 4-byte boundaries. golang.org/x/image/font/sfnt rejects tables that do not
// (golang/go#46384), and the WenQuanYi fonts Debian ships have such tables.
func firstFont(b []byte) ([]byte, error) {
	be := binary.BigEndian
	bad := errors.New("not a TrueType/OpenType font")
	if len(b) < 12 {
		return nil, bad
	}
	dir := 0
	if string(b[:4]) == "ttcf" {
		if len(b) < 16 || be.Uint32(b[8:]) == 0 {
			return nil, bad
		}
		dir = int(be.Uint32(b[12:]))
	}
	if dir+12 > len(b) {
		return nil, bad
	}
	n := int(be.Uint16(b[dir+4:]))
	if n == 0 || dir+12+16*n > len(b) {
		return nil, bad
	}
	head := 12 + 16*n
	out := make([]byte, head, len(b))
	copy(out, b[dir:dir+12])
	for i := range n {
		rec := b[dir+12+16*i : dir+12+16*(i+1)]
		off, size := int(be.Uint32(rec[8:])), int(be.Uint32(rec[12:]))
		if off < 0 || size < 0 || off+size > len(b) {
			return nil, fmt.Errorf("table %q out of bounds", rec[:4])
		}
		at := len(out)
		out = append(out, b[off:off+size]...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
		w := out[12+16*i:]
		copy(w, rec[:8]) // tag, checksum
		be.PutUint32(w[8:], uint32(at))
		be.PutUint32(w[12:], uint32(size))
	}
	return out, nil
}

// face returns the font at px pixels per em.
func (t *typeface) face(px int) font.Face {
	px = max(px, 6)
	t.mu.Lock()
	defer t.mu.Unlock()
	if f, ok := t.faces[px]; ok {
		return f
	}
	f, err := opentype.NewFace(t.f, &opentype.FaceOptions{Size: float64(px), DPI: 72, Hinting: font.HintingFull})
	if err != nil { // only for a bad size, which max above rules out
		panic(fmt.Sprintf("framebuffer: face %dpx: %v", px, err))
	}
	t.faces[px] = f
	return f
}

// has reports whether the font has a glyph for r.
func (t *typeface) has(r rune) bool {
	var buf sfnt.Buffer
	i, err := t.f.GlyphIndex(&buf, r)
	return err == nil && i != 0
}
