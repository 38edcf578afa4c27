package framebuffer

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/math/fixed"

	"github.com/fitmirror/fitmirror/display"
)

// The words on screen, zh-CN first, as on the kiosk page.
const (
	textWelcomeZh = "欢迎"
	textWelcomeEn = "Welcome — stand still for a photo"
	textReviewZh  = "拍好了"
	textReviewEn  = "Got it"
	textCompareZh = "对比"
	textCompareEn = "Compare"
	textGoodbyeZh = "谢谢光临"
	textGoodbyeEn = "Thank you"
	textErrorZh   = "出了点问题"
	textErrorEn   = "Something went wrong"
	textExpiredZh = "二维码已过期"
	textExpiredEn = "· QR code expired"
)

var (
	white = color.RGBA{0xff, 0xff, 0xff, 0xff}
	grey  = color.RGBA{0xd8, 0xd8, 0xd8, 0xff} // the English lines
	track = color.RGBA{0x3a, 0x3a, 0x3a, 0xff} // the used part of the QR expiry ring
)

// painter draws one Screen onto a black canvas of the logical (turned) size.
type painter struct {
	dst       *image.RGBA
	w, h      int
	u         float64 // 1% of the shorter side, like CSS vmin
	landscape bool
	edge      int // safe margin
	zh, en    int // text sizes in pixels

	words  display.Wording // the QR provider's wording of the qr and bound scenes
	tf     *typeface
	photo  func(id string, box image.Point) image.Image // nil result: not available
	now    time.Time
	issued time.Time // when the QR ring starts, see display.QR.IssuedAt
	ppmm   float64   // panel pixels per mm, 0 if unknown
	qrMM   float64
	level  display.QRLevel

	gestures []display.GestureButton // the air buttons, drawn over the scene
}

func (p *painter) setup() {
	b := p.dst.Bounds()
	p.w, p.h = b.Dx(), b.Dy()
	p.u = float64(min(p.w, p.h)) / 100
	p.landscape = p.w > p.h
	p.edge = max(int(5*p.u), 16)
	if p.landscape {
		p.zh, p.en = p.px(6), p.px(3.4)
	} else {
		p.zh, p.en = p.px(7), p.px(3.8)
	}
}

// px converts vmin to whole pixels.
func (p *painter) px(vmin float64) int { return int(math.Round(vmin * p.u)) }

// box is something laid out in a column: text, a picture, the QR code.
type box interface {
	size() image.Point
	draw(dst *image.RGBA, at image.Point)
}

type text struct {
	face  font.Face
	s     string
	c     color.Color
	tight bool // no leading: big numerals
}

// lineHeight is the height of the glyphs plus 10 % leading.
func (t text) lineHeight() (glyphs, line int) {
	m := t.face.Metrics()
	glyphs = (m.Ascent + m.Descent).Ceil()
	if t.tight {
		return glyphs, glyphs
	}
	return glyphs, glyphs * 11 / 10
}

func (t text) size() image.Point {
	_, lh := t.lineHeight()
	return image.Pt(font.MeasureString(t.face, t.s).Ceil(), lh)
}

func (t text) draw(dst *image.RGBA, at image.Point) {
	m := t.face.Metrics()
	g, lh := t.lineHeight()
	base := at.Y + (lh-g)/2 + m.Ascent.Ceil()
	d := font.Drawer{Dst: dst, Src: image.NewUniform(t.c), Face: t.face, Dot: fixed.P(at.X, base)}
	d.DrawString(t.s)
}

// tick is a check mark drawn as two strokes, the height of a line of face: the bundled
// WenQuanYi font draws ✓ as a thin √.
type tick struct {
	face font.Face
	c    color.Color
}

func (k tick) size() image.Point {
	_, lh := text{face: k.face}.lineHeight()
	return image.Pt(lh*9/10, lh)
}

func (k tick) draw(dst *image.RGBA, at image.Point) {
	sz := k.size()
	w, h := float64(sz.X), float64(sz.Y)
	r := math.Max(1, h/14) // half the stroke width
	pts := [][2]float64{{0.12 * w, 0.55 * h}, {0.40 * w, 0.80 * h}, {0.90 * w, 0.22 * h}}
	c := color.RGBAModel.Convert(k.c).(color.RGBA)
	for i := 0; i+1 < len(pts); i++ {
		a, b := pts[i], pts[i+1]
		n := int(math.Hypot(b[0]-a[0], b[1]-a[1])) + 1
		for j := 0; j <= n; j++ {
			t := float64(j) / float64(n)
			cx, cy := a[0]+(b[0]-a[0])*t, a[1]+(b[1]-a[1])*t
			for y := int(cy - r); y <= int(cy+r); y++ {
				for x := int(cx - r); x <= int(cx+r); x++ {
					if (float64(x)-cx)*(float64(x)-cx)+(float64(y)-cy)*(float64(y)-cy) <= r*r {
						dst.SetRGBA(at.X+x, at.Y+y, c)
					}
				}
			}
		}
	}
}

// withTicks is s as text, with each ✓ in it drawn as a tick.
func withTicks(face font.Face, s string, c color.Color) box {
	parts := strings.Split(s, "✓")
	if len(parts) == 1 {
		return text{face: face, s: s, c: c}
	}
	var items []box
	for i, part := range parts {
		if i > 0 {
			items = append(items, tick{face: face, c: c})
		}
		if part != "" {
			items = append(items, text{face: face, s: part, c: c})
		}
	}
	return row{items: items}
}

type picture struct{ img image.Image }

func (p picture) size() image.Point { return p.img.Bounds().Size() }
func (p picture) draw(dst *image.RGBA, at image.Point) {
	b := p.img.Bounds()
	draw.Draw(dst, image.Rectangle{at, at.Add(b.Size())}, p.img, b.Min, draw.Src)
}

// gapBox is empty space.
type gapBox image.Point

func (g gapBox) size() image.Point             { return image.Point(g) }
func (g gapBox) draw(*image.RGBA, image.Point) {}

// column stacks boxes, each centred (align 0), left- (-1) or right-aligned (1) in the column.
type column struct {
	items []box
	gap   int
	align int
}

func (c column) size() image.Point {
	var s image.Point
	for i, it := range c.items {
		is := it.size()
		s.X = max(s.X, is.X)
		s.Y += is.Y
		if i > 0 {
			s.Y += c.gap
		}
	}
	return s
}

func (c column) draw(dst *image.RGBA, at image.Point) {
	w := c.size().X
	y := at.Y
	for _, it := range c.items {
		is := it.size()
		x := at.X + (w-is.X)/2
		switch c.align {
		case -1:
			x = at.X
		case 1:
			x = at.X + w - is.X
		}
		it.draw(dst, image.Pt(x, y))
		y += is.Y + c.gap
	}
}

// row puts boxes side by side, bottom-aligned.
type row struct {
	items []box
	gap   int
}

func (r row) size() image.Point {
	var s image.Point
	for i, it := range r.items {
		is := it.size()
		s.Y = max(s.Y, is.Y)
		s.X += is.X
		if i > 0 {
			s.X += r.gap
		}
	}
	return s
}

func (r row) draw(dst *image.RGBA, at image.Point) {
	h := r.size().Y
	x := at.X
	for _, it := range r.items {
		is := it.size()
		it.draw(dst, image.Pt(x, at.Y+h-is.Y))
		x += is.X + r.gap
	}
}

// top places b at the top edge, centred; bottom at the bottom edge; corner at the bottom right.
func (p *painter) top(b box) {
	s := b.size()
	b.draw(p.dst, image.Pt((p.w-s.X)/2, p.edge))
}

func (p *painter) bottom(b box) {
	s := b.size()
	b.draw(p.dst, image.Pt((p.w-s.X)/2, p.h-p.edge-s.Y))
}

func (p *painter) bottomRight(b box) {
	s := b.size()
	b.draw(p.dst, image.Pt(p.w-p.edge-s.X, p.h-p.edge-s.Y))
}

func (p *painter) lines(zh, en string) []box {
	return []box{withTicks(p.tf.face(p.zh), zh, white), withTicks(p.tf.face(p.en), en, grey)}
}

func (p *painter) col(items ...box) column { return column{items: items, gap: p.px(1.2)} }

// paint draws s. The canvas must be black.
func (p *painter) paint(s display.Screen) {
	p.setup()
	switch s.Scene {
	case display.SceneWelcome:
		p.top(p.col(p.lines(textWelcomeZh, textWelcomeEn)...))
	case display.SceneCountdown:
		if s.Countdown > 0 {
			size := p.px(30)
			if p.landscape {
				size = p.px(24)
			}
			p.top(text{p.tf.face(size), strconv.Itoa(s.Countdown), white, true})
		}
	case display.SceneReview:
		p.top(p.col(p.lines(textReviewZh, textReviewEn)...))
		// The photo at the top right corner, small: the shopper's reflection stays free.
		if img := p.photo(s.PhotoID, image.Pt(p.px(24), p.px(32))); img != nil {
			picture{img}.draw(p.dst, image.Pt(p.w-p.edge-img.Bounds().Dx(), p.edge))
		}
	case display.SceneQR:
		p.paintQR(s)
	case display.SceneBound:
		p.bottom(p.col(p.lines(p.words.BoundZh, p.words.BoundEn)...))
	case display.SceneCompare:
		p.paintCompare(s)
	case display.SceneGoodbye:
		p.top(p.col(p.lines(textGoodbyeZh, textGoodbyeEn)...))
	case display.SceneError:
		items := p.lines(textErrorZh, textErrorEn)
		f := p.tf.face(p.zh * 7 / 10)
		for _, l := range wrap(f, s.Text(), p.w-2*p.edge, 3) {
			items = append(items, text{face: f, s: l, c: white})
		}
		p.bottom(p.col(items...))
	}
	// idle and unknown scenes: black, a plain mirror.
	p.paintGestures(s.Scene)
}

func (p *painter) paintCompare(s display.Screen) {
	caption := p.col(p.lines(textCompareZh, textCompareEn)...)
	var boxSize image.Point
	if p.landscape {
		boxSize = image.Pt(p.px(40), p.px(62))
	} else {
		boxSize = image.Pt(p.px(42), p.px(56))
	}
	var pics []image.Image
	for _, id := range []string{s.PhotoID, s.CompareID} {
		if img := p.photo(id, boxSize); img != nil {
			pics = append(pics, img)
		}
	}
	if p.landscape {
		// Caption at the top, the photos at the left and right edges: the middle stays mirror.
		p.top(caption)
		y := p.edge + caption.size().Y + p.px(3)
		if len(pics) > 0 {
			picture{pics[0]}.draw(p.dst, image.Pt(p.edge, y))
		}
		if len(pics) > 1 {
			picture{pics[1]}.draw(p.dst, image.Pt(p.w-p.edge-pics[1].Bounds().Dx(), y))
		}
		return
	}
	var r row
	r.gap = p.px(4)
	for _, img := range pics {
		r.items = append(r.items, picture{img})
	}
	p.bottom(column{items: []box{caption, r}, gap: p.px(2)})
}

func (p *painter) paintQR(s display.Screen) {
	if s.QR == nil || s.QR.Content == "" {
		return
	}
	left := s.QR.ExpiresAt.Sub(p.now)
	secs := int(math.Ceil(left.Seconds()))
	small := p.tf.face(p.zh * 7 / 10)
	// The instruction on one line if it fits at up to a quarter smaller, else on two.
	var caption []box
	for size := p.zh; size >= p.zh*3/4; size-- {
		if t := (text{face: p.tf.face(size), s: p.words.ScanZh1 + p.words.ScanZh2, c: white}); t.size().X <= p.w-2*p.edge {
			caption = []box{t}
			break
		}
	}
	if caption == nil {
		caption = []box{text{face: p.tf.face(p.zh), s: p.words.ScanZh1, c: white}, text{face: p.tf.face(p.zh), s: p.words.ScanZh2, c: white}}
	}
	caption = append(caption, text{face: p.tf.face(p.en), s: p.words.ScanEn, c: grey})
	if secs <= 0 {
		caption = append(caption, p.col(text{face: small, s: textExpiredZh, c: white}, text{face: p.tf.face(p.en), s: textExpiredEn, c: grey}))
		p.place(caption, nil)
		return
	}
	caption = append(caption, row{items: []box{
		text{face: small, s: fmt.Sprintf("剩余 %d 秒", secs), c: white},
		text{face: p.tf.face(p.en), s: fmt.Sprintf("· %d s left", secs), c: grey},
	}, gap: p.px(1)})

	modules, err := display.QRModules(s.QR.Content, p.level)
	if err != nil {
		// Content too long for a QR code: the engine never makes such; show the words only.
		p.place(caption, nil)
		return
	}
	maxPx := p.px(34)
	if p.landscape {
		maxPx = p.px(32)
	}
	total := s.QR.ExpiresAt.Sub(p.issued)
	frac := 1.0
	if total > 0 {
		frac = min(1, max(0, float64(left)/float64(total)))
	}
	q := &qrBox{modules: modules, scale: display.QRScale(len(modules), p.ppmm, p.qrMM, maxPx),
		ring: max(3, p.px(1)), gap: max(4, p.px(1.5)), frac: frac}
	p.place(caption, q)
}

// place lays out the QR scene: caption above the code at the bottom edge (portrait), or the
// caption beside the code in the lower right corner (landscape).
func (p *painter) place(caption []box, q box) {
	if p.landscape {
		c := column{items: caption, gap: p.px(1.2), align: 1}
		if q == nil {
			p.bottomRight(c)
			return
		}
		p.bottomRight(row{items: []box{c, q}, gap: p.px(4)})
		return
	}
	items := caption
	if q != nil {
		items = append(items, gapBox{0, p.px(0.8)}, q)
	}
	p.bottom(p.col(items...))
}

// qrBox is the code, white quiet zone included, every module scale×scale pixels, inside a ring
// whose bright part is the share of the code's lifetime left, running clockwise from the top.
type qrBox struct {
	modules   [][]bool
	scale     int
	ring, gap int
	frac      float64
}

func (q *qrBox) side() int { return len(q.modules) * q.scale }

func (q *qrBox) size() image.Point {
	n := q.side() + 2*(q.ring+q.gap)
	return image.Pt(n, n)
}

func (q *qrBox) draw(dst *image.RGBA, at image.Point) {
	n := q.size().X
	// The ring: a square band around the code, lit where its angle from 12 o'clock is within
	// the share left.
	c := float64(n) / 2
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if x >= q.ring && x < n-q.ring && y >= q.ring && y < n-q.ring {
				continue
			}
			dx, dy := float64(x)+0.5-c, float64(y)+0.5-c
			a := math.Atan2(dx, -dy) / (2 * math.Pi) // 0 at the top, clockwise
			if a < 0 {
				a++
			}
			col := track
			if a <= q.frac {
				col = white
			}
			dst.SetRGBA(at.X+x, at.Y+y, col)
		}
	}
	o := at.Add(image.Pt(q.ring+q.gap, q.ring+q.gap))
	for my, line := range q.modules {
		for mx, dark := range line {
			col := white
			if dark {
				col = color.RGBA{0, 0, 0, 0xff}
			}
			r := image.Rect(o.X+mx*q.scale, o.Y+my*q.scale, o.X+(mx+1)*q.scale, o.Y+(my+1)*q.scale)
			draw.Draw(dst, r, image.NewUniform(col), image.Point{}, draw.Src)
		}
	}
}

// wrap breaks s into lines no wider than width, between words where it can (Latin) and between
// any two characters otherwise (Chinese); at most maxLines, the last one cut with "…".
func wrap(f font.Face, s string, width, maxLines int) []string {
	s = strings.Join(strings.Fields(s), " ")
	var out []string
	for s != "" && len(out) < maxLines {
		if font.MeasureString(f, s).Ceil() <= width {
			out = append(out, s)
			s = ""
			break
		}
		runes := []rune(s)
		n := 1
		for n < len(runes) && font.MeasureString(f, string(runes[:n+1])).Ceil() <= width {
			n++
		}
		cut := n
		for i := n; i > n/2; i-- { // prefer a space in the second half of the line
			if runes[i] == ' ' {
				cut = i
				break
			}
		}
		out = append(out, strings.TrimSpace(string(runes[:cut])))
		s = strings.TrimSpace(string(runes[cut:]))
	}
	if s != "" && len(out) > 0 {
		last := []rune(out[len(out)-1])
		for len(last) > 1 && font.MeasureString(f, string(last)+"…").Ceil() > width {
			last = last[:len(last)-1]
		}
		out[len(out)-1] = string(last) + "…"
	}
	return out
}
