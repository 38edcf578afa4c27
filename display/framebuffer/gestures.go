package framebuffer

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"time"

	"golang.org/x/image/font"

	"github.com/fitmirror/fitmirror/display"
)

// The air buttons on the framebuffer, as the kiosk page draws them (docs/gestures.md): each
// button's region outlined where the shopper sees it in the glass, a ring in it that fills
// clockwise from 12 o'clock while a hand is held there, and on firing the region, the ring and a
// tick in green for firedFor. They show on every scene but idle and countdown (a photo is being
// taken: stand still).
const firedFor = 1500 * time.Millisecond

var (
	airEdge  = color.RGBA{0x4a, 0x4a, 0x4a, 0xff} // a button's outline
	airTrack = color.RGBA{0x33, 0x33, 0x33, 0xff} // the ring's unfilled part
	airFired = color.RGBA{0x7d, 0xff, 0x8a, 0xff} // a button that fired
)

// gestureState is the air buttons' feedback the framebuffer shows.
type gestureState struct {
	throttle   display.GestureThrottle
	firedUntil map[string]time.Time // by action: until when its tick shows
}

// ShowGestures shows the air buttons (vision.HoldFeedback makes g): where they are in mirror
// coordinates and how far a hold has come. Updates are throttled as on the kiosk page
// (display.GestureThrottle), so a swaying shopper does not redraw the panel 15 times a second;
// a button firing is drawn at once. It never blocks. No buttons hides them.
func (fb *Framebuffer) ShowGestures(g display.Gestures) {
	now := fb.opts.Now()
	fb.mu.Lock()
	if !fb.gest.throttle.Take(g, now) {
		fb.mu.Unlock()
		return
	}
	for _, b := range g.Buttons {
		if b.Fired {
			if fb.gest.firedUntil == nil {
				fb.gest.firedUntil = map[string]time.Time{}
			}
			fb.gest.firedUntil[b.Action] = now.Add(firedFor)
		}
	}
	fb.mu.Unlock()
	select {
	case fb.wake <- struct{}{}:
	default:
	}
}

// airButtons returns the buttons to draw at now, with Fired set on those whose tick shows (and
// forgets the ticks that have gone). Its caller holds fb.mu.
func (fb *Framebuffer) airButtons(now time.Time) []display.GestureButton {
	for a, until := range fb.gest.firedUntil {
		if !now.Before(until) {
			delete(fb.gest.firedUntil, a)
		}
	}
	buttons := fb.gest.throttle.Shown().Buttons
	for i := range buttons {
		_, fired := fb.gest.firedUntil[buttons[i].Action]
		buttons[i].Fired = fired
	}
	return buttons
}

// paintGestures draws the air buttons over the scene.
func (p *painter) paintGestures(scene string) {
	if scene == display.SceneIdle || scene == display.SceneCountdown {
		return
	}
	for _, b := range p.gestures {
		r := image.Rect(int(clamp01(b.Box.X)*float64(p.w)), int(clamp01(b.Box.Y)*float64(p.h)),
			int(clamp01(b.Box.X+b.Box.W)*float64(p.w)), int(clamp01(b.Box.Y+b.Box.H)*float64(p.h)))
		if r.Dx() < 8 || r.Dy() < 8 {
			continue
		}
		edge := airEdge
		if b.Fired {
			edge = airFired
		}
		outline(p.dst, r, max(2, p.px(0.4)), edge)
		label := p.airLabel(b.Action)
		ls := label.size()
		d := min(r.Dx()*7/10, (r.Dy()-ls.Y)*7/10, p.px(22))
		if d < 8 {
			continue
		}
		ring := holdRing{d: d, width: max(4, p.px(1.4)), progress: clamp01(b.Progress), fired: b.Fired, face: p.tf.face(d / 2)}
		top := r.Min.Y + (r.Dy()-d-p.px(1)-ls.Y)/2
		ring.draw(p.dst, image.Pt(r.Min.X+(r.Dx()-d)/2, top))
		if ls.X <= r.Dx() {
			label.draw(p.dst, image.Pt(r.Min.X+(r.Dx()-ls.X)/2, top+d+p.px(1)))
		}
	}
}

// airLabel is the button's caption, zh-CN first, as on the kiosk page.
func (p *painter) airLabel(action string) box {
	zh, en := "拍照", "Photo"
	if action == "next" {
		zh, en = "对比", "Compare"
	}
	return row{items: []box{text{face: p.tf.face(p.en), s: zh + " ", c: white}, text{face: p.tf.face(p.en * 8 / 10), s: en, c: grey}}}
}

// holdRing is a hold's progress: a ring d pixels across, lit clockwise from 12 o'clock for the
// share held; all green with a tick in it once the button fired.
type holdRing struct {
	d, width int
	progress float64
	fired    bool
	face     font.Face
}

func (h holdRing) draw(dst *image.RGBA, at image.Point) {
	c := float64(h.d) / 2
	outer, inner := c, c-float64(h.width)
	for y := 0; y < h.d; y++ {
		for x := 0; x < h.d; x++ {
			dx, dy := float64(x)+0.5-c, float64(y)+0.5-c
			if r := math.Hypot(dx, dy); r > outer || r < inner {
				continue
			}
			col := airTrack
			switch a := turnFromTop(dx, dy); {
			case h.fired:
				col = airFired
			case a <= h.progress:
				col = white
			}
			dst.SetRGBA(at.X+x, at.Y+y, col)
		}
	}
	if h.fired {
		k := tick{face: h.face, c: airFired}
		s := k.size()
		k.draw(dst, at.Add(image.Pt((h.d-s.X)/2, (h.d-s.Y)/2)))
	}
}

// turnFromTop is the angle of (dx, dy) from 12 o'clock, clockwise, in turns (0..1).
func turnFromTop(dx, dy float64) float64 {
	a := math.Atan2(dx, -dy) / (2 * math.Pi)
	if a < 0 {
		a++
	}
	return a
}

// outline draws the border of r, w pixels wide, inside r.
func outline(dst *image.RGBA, r image.Rectangle, w int, c color.RGBA) {
	u := image.NewUniform(c)
	for _, s := range []image.Rectangle{
		{r.Min, image.Pt(r.Max.X, r.Min.Y+w)}, {image.Pt(r.Min.X, r.Max.Y-w), r.Max},
		{r.Min, image.Pt(r.Min.X+w, r.Max.Y)}, {image.Pt(r.Max.X-w, r.Min.Y), r.Max},
	} {
		draw.Draw(dst, s.Intersect(dst.Bounds()), u, image.Point{}, draw.Src)
	}
}

func clamp01(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return min(1, max(0, v))
}

// tickGone says whether a fired button's tick has outlived firedFor and is still drawn.
func (fb *Framebuffer) tickGone() bool {
	now := fb.opts.Now()
	fb.mu.Lock()
	defer fb.mu.Unlock()
	for _, until := range fb.gest.firedUntil {
		if !now.Before(until) {
			return true
		}
	}
	return false
}
