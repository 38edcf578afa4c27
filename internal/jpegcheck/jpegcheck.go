// Package jpegcheck decides whether bytes from outside are a photo, without letting them
// decide how much memory that takes. A JPEG's header declares its size in 16-bit fields, so a
// few hundred bytes can ask a decoder for gigabytes (65535×65535 pixels). Check reads the
// frame header first, refuses what is not a baseline or progressive JPEG of 1 or 3 components
// within [Limits], estimates what decoding it costs, and only then decodes the whole image,
// inside a [Decoder] whose total memory budget and number of workers are bounded. The hub runs
// every upload and every thumbnail through one Decoder; the agent checks its own captures the
// same way before uploading them.
package jpegcheck

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"runtime"

	"golang.org/x/sync/semaphore"
)

// Limits bound what a photo may be.
type Limits struct {
	MaxSide   int   // pixels, either side
	MaxPixels int64 // width × height
	// Budget bounds the memory of all decodes running at once, bytes; one image whose
	// estimated cost is over it is refused.
	Budget int64
	// Workers bounds how many images decode at once (0 = the number of CPUs).
	Workers int
}

// Default limits: 8,000 px a side and 24 Mpx, twice the largest sensor a mirror is built with
// (the Raspberry Pi HQ camera, 4056×3040 = 12.3 Mpx; a 4K webcam is 8.3 Mpx), and a 512 MiB
// budget, which holds the costliest such image (progressive, 4:4:4: about 360 MiB) and four
// 1080p photos at once.
var Default = Limits{MaxSide: 8000, MaxPixels: 24_000_000, Budget: 512 << 20}

// Refusal is why bytes are not accepted as a photo. Unsupported is true when they are not a
// JPEG this package decodes at all (HTTP 415); otherwise they are a JPEG that is too large or
// broken (HTTP 422).
type Refusal struct {
	Unsupported bool
	Reason      string
}

func (r *Refusal) Error() string { return r.Reason }

// Info is what a JPEG's frame header says.
type Info struct {
	Width, Height int
	Components    int
	Progressive   bool
	Cost          int64 // estimated bytes to decode
}

// Decoder decodes JPEGs within a memory budget and a bounded number of workers.
type Decoder struct {
	lim     Limits
	mem     *semaphore.Weighted
	workers chan struct{}
}

// New returns a Decoder for lim; zero fields take Default's.
func New(lim Limits) *Decoder {
	if lim.MaxSide <= 0 {
		lim.MaxSide = Default.MaxSide
	}
	if lim.MaxPixels <= 0 {
		lim.MaxPixels = Default.MaxPixels
	}
	if lim.Budget <= 0 {
		lim.Budget = Default.Budget
	}
	if lim.Workers <= 0 {
		lim.Workers = runtime.GOMAXPROCS(0)
	}
	return &Decoder{lim: lim, mem: semaphore.NewWeighted(lim.Budget), workers: make(chan struct{}, lim.Workers)}
}

// Limits returns the decoder's limits.
func (d *Decoder) Limits() Limits { return d.lim }

// Check verifies that data is a whole photo within the limits: the header first, then a full
// decode. The error is a *Refusal for bad bytes, or the context's error.
func (d *Decoder) Check(ctx context.Context, data []byte) (Info, error) {
	return d.Decode(ctx, data, nil)
}

// Decode checks data as Check does and calls use with the decoded image while its memory is
// still counted against the budget (use may be nil).
func (d *Decoder) Decode(ctx context.Context, data []byte, use func(image.Image) error) (Info, error) {
	info, err := d.Header(data)
	if err != nil {
		return info, err
	}
	select {
	case d.workers <- struct{}{}:
	case <-ctx.Done():
		return info, ctx.Err()
	}
	defer func() { <-d.workers }()
	if err := d.mem.Acquire(ctx, info.Cost); err != nil {
		return info, err
	}
	defer d.mem.Release(info.Cost)
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return info, &Refusal{Reason: "the JPEG does not decode: " + err.Error()}
	}
	if b := img.Bounds(); b.Dx() != info.Width || b.Dy() != info.Height {
		return info, &Refusal{Reason: fmt.Sprintf("the JPEG decodes to %dx%d, not the %dx%d its header says", b.Dx(), b.Dy(), info.Width, info.Height)}
	}
	if use != nil {
		return info, use(img)
	}
	return info, nil
}

// Header reads the frame header and applies the limits, without decoding any pixel.
func (d *Decoder) Header(data []byte) (Info, error) {
	info, err := parseHeader(data)
	if err != nil {
		return info, err
	}
	switch {
	case info.Width > d.lim.MaxSide || info.Height > d.lim.MaxSide:
		return info, &Refusal{Reason: fmt.Sprintf("a %dx%d JPEG is over the %d px limit per side", info.Width, info.Height, d.lim.MaxSide)}
	case int64(info.Width)*int64(info.Height) > d.lim.MaxPixels:
		return info, &Refusal{Reason: fmt.Sprintf("a %dx%d JPEG is over the %d-pixel limit", info.Width, info.Height, d.lim.MaxPixels)}
	case info.Cost > d.lim.Budget:
		return info, &Refusal{Reason: fmt.Sprintf("a %dx%d JPEG needs about %d MiB to decode, over the %d MiB budget", info.Width, info.Height, info.Cost>>20, d.lim.Budget>>20)}
	}
	return info, nil
}

var errNotJPEG = errors.New("not a JPEG image")

// parseHeader walks the markers up to the frame header (SOF) and estimates the decode cost
// from it.
func parseHeader(data []byte) (Info, error) {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return Info{}, &Refusal{Unsupported: true, Reason: errNotJPEG.Error()}
	}
	for i := 2; ; {
		for i < len(data) && data[i] == 0xff && i+1 < len(data) && data[i+1] == 0xff {
			i++ // fill bytes
		}
		if i+4 > len(data) || data[i] != 0xff {
			return Info{}, &Refusal{Unsupported: true, Reason: errNotJPEG.Error() + ": no frame header"}
		}
		marker := data[i+1]
		if marker == 0x01 || marker >= 0xd0 && marker <= 0xd7 { // TEM and RSTn stand alone
			i += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return Info{}, &Refusal{Unsupported: true, Reason: errNotJPEG.Error() + ": a marker segment is cut short"}
		}
		seg := data[i+4 : i+2+n]
		switch {
		case marker == 0xc0 || marker == 0xc1 || marker == 0xc2: // baseline, extended, progressive
			return frame(seg, marker == 0xc2)
		case marker >= 0xc3 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc:
			return Info{}, &Refusal{Unsupported: true, Reason: fmt.Sprintf("JPEG frame type 0x%02x (lossless, hierarchical or arithmetic): only baseline and progressive are accepted", marker)}
		case marker == 0xda || marker == 0xd9:
			return Info{}, &Refusal{Unsupported: true, Reason: errNotJPEG.Error() + ": no frame header before the image data"}
		}
		i += 2 + n
	}
}

// frame reads a SOF segment: precision, height, width, then per component its ID, sampling
// factors and table.
func frame(seg []byte, progressive bool) (Info, error) {
	if len(seg) < 6 {
		return Info{}, &Refusal{Unsupported: true, Reason: errNotJPEG.Error() + ": short frame header"}
	}
	info := Info{Height: int(binary.BigEndian.Uint16(seg[1:])), Width: int(binary.BigEndian.Uint16(seg[3:])), Components: int(seg[5]), Progressive: progressive}
	if seg[0] != 8 {
		return info, &Refusal{Unsupported: true, Reason: fmt.Sprintf("a %d-bit JPEG: only 8-bit is accepted", seg[0])}
	}
	if info.Width == 0 || info.Height == 0 {
		return info, &Refusal{Reason: fmt.Sprintf("a JPEG of %dx%d pixels", info.Width, info.Height)}
	}
	if info.Components != 1 && info.Components != 3 {
		return info, &Refusal{Unsupported: true, Reason: fmt.Sprintf("a JPEG of %d components: only greyscale and colour (YCbCr) are accepted", info.Components)}
	}
	if len(seg) < 6+3*info.Components {
		return info, &Refusal{Unsupported: true, Reason: errNotJPEG.Error() + ": short frame header"}
	}
	hmax, vmax := 1, 1
	for c := 0; c < info.Components; c++ {
		s := seg[6+3*c+1]
		hmax, vmax = max(hmax, int(s>>4)), max(vmax, int(s&15))
	}
	for c := 0; c < info.Components; c++ {
		s := seg[6+3*c+1]
		h, v := max(1, int(s>>4)), max(1, int(s&15))
		// The component's plane, in whole 8×8 blocks of its MCUs; a progressive decode also
		// keeps 64 int32 coefficients a block until the last scan.
		bw := (info.Width*h/hmax + 8*h - 1) / (8 * h) * h
		bh := (info.Height*v/vmax + 8*v - 1) / (8 * v) * v
		blocks := int64(bw+h) * int64(bh+v)
		info.Cost += blocks * 64
		if progressive {
			info.Cost += blocks * 64 * 4
		}
	}
	info.Cost += 1 << 20 // the decoder's own tables and buffers
	return info, nil
}
