package jpegcheck_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fitmirror/fitmirror/internal/jpegcheck"

	"github.com/fitmirror/fitmirror/internal/jpegcheck/jpegtest"
)

// baseline encodes a w×h baseline JPEG (Go's encoder: 4:2:0).
func baseline(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAcceptsPhotos(t *testing.T) {
	d := jpegcheck.New(jpegcheck.Limits{})
	for _, tt := range []struct {
		name        string
		data        []byte
		w, h        int
		progressive bool
	}{
		{"baseline", baseline(t, 640, 480), 640, 480, false},
		{"progressive", jpegtest.Progressive(), 64, 48, true},
		{"progressive 720p", jpegtest.Progressive720p(), 1280, 720, true},
	} {
		info, err := d.Check(context.Background(), tt.data)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if info.Width != tt.w || info.Height != tt.h || info.Progressive != tt.progressive || info.Components != 3 {
			t.Errorf("%s: info = %+v", tt.name, info)
		}
	}
}

func TestRefusesWhatIsNotAPhoto(t *testing.T) {
	var pngb bytes.Buffer
	png.Encode(&pngb, image.NewGray(image.Rect(0, 0, 4, 4)))
	twelveBit := baseline(t, 16, 16)
	cmyk := bytes.Clone(twelveBit)
	for i := 2; ; {
		n := int(binary.BigEndian.Uint16(twelveBit[i+2:]))
		if twelveBit[i+1] == 0xc0 {
			twelveBit[i+4] = 12
			cmyk[i+9] = 4
			break
		}
		i += 2 + n
	}
	prog := jpegtest.Progressive()
	for _, tt := range []struct {
		name        string
		data        []byte
		unsupported bool
		reason      string
	}{
		{"html", append([]byte{0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0}, "<html><script>x</script></html>"...), true, "not a JPEG"},
		{"jpeg magic only", []byte{0xff, 0xd8, 0xff}, true, "not a JPEG"},
		{"png", pngb.Bytes(), true, "not a JPEG"},
		{"empty", nil, true, "not a JPEG"},
		{"12-bit", twelveBit, true, "12-bit"},
		{"cmyk", cmyk, true, "4 components"},
		{"65535x65535 progressive", jpegtest.WithSize(prog, 65535, 65535), false, "8000 px"},
		{"8192x8192", jpegtest.WithSize(prog, 8192, 8192), false, "8000 px"},
		{"6000x5000", jpegtest.WithSize(prog, 6000, 5000), false, "24000000-pixel"},
		{"cut short", jpegtest.WithSize(prog, 4000, 3000), false, "does not decode"},
		{"zero width", jpegtest.WithSize(prog, 0, 10), false, "0x10"},
	} {
		_, err := jpegcheck.New(jpegcheck.Limits{}).Check(context.Background(), tt.data)
		var r *jpegcheck.Refusal
		if !errors.As(err, &r) {
			t.Errorf("%s: err = %v, want a refusal", tt.name, err)
			continue
		}
		if r.Unsupported != tt.unsupported || !strings.Contains(r.Reason, tt.reason) {
			t.Errorf("%s: refusal = %+v, want unsupported=%v and %q", tt.name, r, tt.unsupported, tt.reason)
		}
	}
}

// TestBombsAreRefusedBeforeDecoding: a header that declares 65535×65535 costs nothing to
// refuse.
func TestBombsAreRefusedBeforeDecoding(t *testing.T) {
	bomb := jpegtest.Bomb(65535, 65535)
	d := jpegcheck.New(jpegcheck.Limits{})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := d.Check(context.Background(), bomb); err == nil {
			t.Fatal("the bomb was accepted")
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("refusing 10 bombs allocated %d bytes", got)
	}
}

// TestCostBoundsTheDecode: the estimate is at least what the decoder really allocates, and
// not wildly more.
func TestCostBoundsTheDecode(t *testing.T) {
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"baseline 1080p", baseline(t, 1920, 1080)},
		{"progressive 720p", jpegtest.Progressive720p()},
	} {
		info, err := jpegcheck.New(jpegcheck.Limits{}).Header(tt.data)
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if _, err := jpeg.Decode(bytes.NewReader(tt.data)); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		used := int64(after.TotalAlloc - before.TotalAlloc)
		t.Logf("%s: decoding allocated %d bytes, estimated %d", tt.name, used, info.Cost)
		if used > info.Cost || info.Cost > 3*used+(1<<20) {
			t.Errorf("%s: decoding allocated %d bytes, estimated %d", tt.name, used, info.Cost)
		}
	}
}

// TestBudgetBoundsConcurrentDecodes: a budget that holds one image lets one decode run at a
// time, however many ask at once; the workers bound does the same by count.
func TestBudgetBoundsConcurrentDecodes(t *testing.T) {
	data := baseline(t, 1280, 720)
	info, err := jpegcheck.New(jpegcheck.Limits{}).Header(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, lim := range []jpegcheck.Limits{{Budget: info.Cost * 3 / 2, Workers: 8}, {Workers: 2}} {
		d := jpegcheck.New(lim)
		var running, peak atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := d.Decode(context.Background(), data, func(image.Image) error {
					n := running.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					runtime.Gosched()
					running.Add(-1)
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		want := int32(lim.Workers)
		if lim.Budget > 0 {
			want = 1
		}
		if peak.Load() > want {
			t.Errorf("%+v: %d decodes at once, want at most %d", lim, peak.Load(), want)
		}
	}
}

func TestWaitingForTheBudgetStopsWithTheContext(t *testing.T) {
	data := baseline(t, 320, 240)
	d := jpegcheck.New(jpegcheck.Limits{Workers: 1})
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := d.Decode(context.Background(), data, func(image.Image) error {
			close(entered)
			<-release
			return nil
		})
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Check(ctx, data); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting for a worker: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestPaddedPhotosStayPhotos: jpegtest.Padded, which the hub's upload tests use for large
// photos, makes a valid JPEG of exactly the asked size.
func TestPaddedPhotosStayPhotos(t *testing.T) {
	src := baseline(t, 64, 64)
	for _, n := range []int{len(src), len(src) + 4, len(src) + 5, len(src) + 70000, 8 << 20} {
		p := jpegtest.Padded(src, n)
		if len(p) != n {
			t.Errorf("Padded(%d) has %d bytes", n, len(p))
		}
		if _, err := jpegcheck.New(jpegcheck.Limits{}).Check(context.Background(), p); err != nil {
			t.Errorf("Padded(%d): %v", n, err)
		}
	}
}
