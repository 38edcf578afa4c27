package evalset

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"gocv.io/x/gocv"
)

// The fitting-room set: procedural scenes of a fitting room seen from the mirror, with what
// the held-out footage had and the first set lacked. The shopper is cut out of the
// repository's photo with OpenCV's grabCut (head and shoulders, the shirt continued down),
// composited with their silhouette — not a rectangle — over a room with an entrance curtain
// on the left (a corridor behind it when it is open), a face poster on the wall, patterned
// garments on a hook, and the mirror's own lighting, which fades.

// Shopper is a person in a fitting-room frame: the cut-out scaled by Scale with its top-left
// corner at (X, Y). Away: turned away from the mirror (the back of the head where the face
// was). Other: a second, different shopper (mirrored, other clothes).
type Shopper struct {
	X, Y  int
	Scale float64
	Away  bool
	Other bool
}

// RoomScene is what one fitting-room frame shows.
type RoomScene struct {
	Shoppers []Shopper
	Passers  []Shopper // people in the corridor, seen only through the curtain's opening
	// Open is how far the entrance curtain is drawn back, 0 (closed) to 1; Sway moves its
	// folds and its edge by that many pixels (a curtain swinging after someone went through).
	Open, Sway float64
	Gain       float64 // the room's light, 1 = the mirror's normal lighting; 0 = 1
	Noise      int     // sensor noise amplitude in grey levels; 0 = 3
}

// RoomSpec describes one fitting-room clip.
type RoomSpec struct {
	Name     string
	Duration time.Duration
	Scene    func(t time.Duration) RoomScene
}

const (
	entrance = 170 // the curtain and the corridor behind it: x < entrance
	// shopperScale: the cut-out's scale for a shopper at the mirror (a face of about 180 px).
	shopperScale = 0.8
	passerScale  = 0.2 // people in the corridor: faces of about 45 px, under the 0.08 minimum
)

// poster is where the face poster hangs on the wall.
var poster = image.Rect(470, 30, 585, 175)

// standX places a shopper of scale s with their face centred at x.
func standX(x int, s float64) int {
	c := (sourceFace.Min.X + sourceFace.Max.X) / 2
	return x - int(float64(c-cutCrop.Min.X)*s)
}

// standY places a shopper of scale s with the top of their face at y.
func standY(y int, s float64) int { return y - int(float64(sourceFace.Min.Y-cutCrop.Min.Y)*s) }

// enter is a shopper who walks in through the curtain from the left at t0 over 1.2 s, stays,
// and walks out the same way over 1.2 s, starting at t1.
func enter(t, t0, t1 time.Duration, s float64) (Shopper, bool) {
	stand := standX(330, s)
	from := -int(float64(cutCrop.Dx()) * s)
	y := standY(110, s)
	switch {
	case t < t0 || t >= t1+1200*time.Millisecond:
		return Shopper{}, false
	case t < t0+1200*time.Millisecond:
		return Shopper{X: walk(t, t0, 1200*time.Millisecond, from, stand), Y: y, Scale: s}, true
	case t < t1:
		// Standing, swaying a little.
		return Shopper{X: stand + int(4*math.Sin(float64(t)/float64(time.Second)*1.7)), Y: y, Scale: s}, true
	}
	return Shopper{X: walk(t, t1, 1200*time.Millisecond, stand, from), Y: y, Scale: s}, true
}

// curtainAfter: the curtain is pushed aside as the shopper goes through it at t0 and swings
// back over the next 3 s; the room is seen with it 30% open otherwise.
func curtainAfter(sc *RoomScene, t time.Duration, passes ...time.Duration) {
	sc.Open = 0.3
	for _, t0 := range passes {
		if d := t - t0; d >= 0 && d < 6*time.Second {
			k := d.Seconds()
			sc.Open = 0.3 + 0.5*math.Exp(-k/1.5)
			sc.Sway = 30 * math.Exp(-k/2) * math.Sin(k*4)
		}
	}
}

// corridor: people walk past behind the curtain from time from, one every every, each taking
// 2.5 s to cross the opening.
func corridor(t, from, every time.Duration) []Shopper {
	var ps []Shopper
	for k := 0; k < 10; k++ {
		t0 := from + time.Duration(k)*every
		if t < t0 || t > t0+2500*time.Millisecond {
			continue
		}
		w := int(float64(cutCrop.Dx()) * passerScale)
		x := walk(t, t0, 2500*time.Millisecond, -w, entrance)
		if k%2 == 1 {
			x = walk(t, t0, 2500*time.Millisecond, entrance, -w)
		}
		ps = append(ps, Shopper{X: x, Y: 150, Scale: passerScale, Other: k%2 == 1})
	}
	return ps
}

// RoomSpecs is the fitting-room set.
func RoomSpecs() []RoomSpec {
	s := time.Second
	ms := time.Millisecond
	visit := func(t, t0, t1 time.Duration) RoomScene {
		var sc RoomScene
		curtainAfter(&sc, t, t0, t1+600*ms)
		if p, ok := enter(t, t0, t1, shopperScale); ok {
			sc.Shoppers = []Shopper{p}
		}
		return sc
	}
	return []RoomSpec{
		{Name: "room-walk-in", Duration: 14 * s, Scene: func(t time.Duration) RoomScene { return visit(t, 1500*ms, 8*s) }},
		{Name: "room-empty-poster-garments", Duration: 10 * s, Scene: func(t time.Duration) RoomScene {
			// Nobody: the poster's face and the garments for 10 s, the light fading down and up.
			sc := RoomScene{Open: 0.3}
			sc.Gain = 1 - 0.35*math.Sin(math.Pi*math.Min(1, math.Max(0, (t-2*s).Seconds()/6)))
			return sc
		}},
		{Name: "room-corridor", Duration: 14 * s, Scene: func(t time.Duration) RoomScene {
			// Nobody in the room; the curtain half open; people pass in the corridor.
			return RoomScene{Open: 0.9, Passers: corridor(t, 500*ms, 1500*ms)}
		}},
		{Name: "room-curtain-swings-after", Duration: 14 * s, Scene: func(t time.Duration) RoomScene {
			sc := visit(t, 1500*ms, 5*s)
			if d := t - 6500*ms; d >= 0 { // the curtain keeps swinging after the shopper left
				sc.Open = 0.5 + 0.3*math.Sin(d.Seconds()*3)
				sc.Sway = 25 * math.Sin(d.Seconds()*5)
			}
			return sc
		}},
		{Name: "room-turn-away", Duration: 19 * s, Scene: func(t time.Duration) RoomScene {
			sc := visit(t, 1500*ms, 13*s)
			// 3 s after arriving the shopper turns away for 6 s, almost still.
			if len(sc.Shoppers) == 1 && t >= 5500*ms && t < 11500*ms {
				sc.Shoppers[0].Away = true
				sc.Shoppers[0].X = standX(330, shopperScale) + int(3*math.Sin(t.Seconds()))
			}
			return sc
		}},
		{Name: "room-light-ramp", Duration: 17 * s, Scene: func(t time.Duration) RoomScene {
			// The mirror's lighting fades to 40% and back while nobody is there, and again
			// while the shopper stands there.
			sc := visit(t, 5*s, 12*s)
			ramp := func(t0 time.Duration) float64 {
				k := (t - t0).Seconds() / 3
				if k < 0 || k > 1 {
					return 0
				}
				return 0.6 * math.Sin(math.Pi*k)
			}
			sc.Gain = 1 - ramp(500*ms) - ramp(8*s)
			return sc
		}},
		{Name: "room-dim", Duration: 14 * s, Scene: func(t time.Duration) RoomScene {
			sc := visit(t, 1500*ms, 8*s)
			sc.Gain, sc.Noise = 0.35, 5
			return sc
		}},
		{Name: "room-close", Duration: 14 * s, Scene: func(t time.Duration) RoomScene {
			// A shopper very close to the glass: the face is 300 px wide.
			var sc RoomScene
			curtainAfter(&sc, t, 1500*ms, 8600*ms)
			if p, ok := enter(t, 1500*ms, 8*s, 1.35); ok {
				sc.Shoppers = []Shopper{p}
			}
			return sc
		}},
		{Name: "room-two-shoppers", Duration: 18 * s, Scene: func(t time.Duration) RoomScene {
			// The first shopper's face leaves the frame at 5.6 s; another shopper's face is in
			// it 2 s later, within the exit grace: one shopper, one session — two sessions.
			sc := visit(t, 1500*ms, 5*s)
			if p, ok := enter(t, 6900*ms, 12*s, 0.75); ok {
				p.Other = true
				sc.Shoppers = []Shopper{p}
				curtainAfter(&sc, t, 6900*ms, 12600*ms)
			}
			return sc
		}},
	}
}

// RoomTruth computes a fitting-room clip's ground truth: the stretches in which a shopper's
// face (turned away or not) is wholly inside the frame.
func RoomTruth(s RoomSpec) Truth {
	return truthFrom(s.Name, s.Duration, func(t time.Duration) bool {
		for _, p := range s.Scene(t).Shoppers {
			if p.Scale >= nearScale && shopperFace(p).In(image.Rect(0, 0, Width, Height)) {
				return true
			}
		}
		return false
	})
}

// shopperFace is where a shopper's face is in the frame.
func shopperFace(p Shopper) image.Rectangle {
	f := sourceFace.Sub(cutCrop.Min)
	if p.Other { // mirrored
		f = image.Rect(cutCrop.Dx()-f.Max.X, f.Min.Y, cutCrop.Dx()-f.Min.X, f.Max.Y)
	}
	return image.Rect(p.X+int(float64(f.Min.X)*p.Scale), p.Y+int(float64(f.Min.Y)*p.Scale),
		p.X+int(float64(f.Max.X)*p.Scale), p.Y+int(float64(f.Max.Y)*p.Scale))
}

// GenerateRooms writes every clip of the fitting-room set into dir.
func GenerateRooms(photo, dir string) ([]Clip, error) {
	var clips []Clip
	for _, s := range RoomSpecs() {
		c, err := GenerateRoomClip(photo, dir+"/"+s.Name+".avi", s)
		if err != nil {
			return nil, err
		}
		clips = append(clips, c)
	}
	return clips, nil
}

// GenerateRoomClip writes one fitting-room clip to out.
func GenerateRoomClip(photo, out string, s RoomSpec) (Clip, error) {
	err := writeClip(photo, out, s.Name, s.Duration, 0x700f, func(src gocv.Mat) (clipDrawer, func()) {
		r := newRoomRenderer(src)
		return func(t time.Duration, rng *rand.Rand) gocv.Mat { r.draw(s.Scene(t), rng); return r.frame }, r.Close
	})
	if err != nil {
		return Clip{}, err
	}
	return Clip{Path: out, Truth: RoomTruth(s)}, nil
}

// cutCrop is the part of the photo the cut-out comes from (the person with some margin).
var cutCrop = image.Rect(120, 20, 580, 480)

// cutExtra is how far the shirt is continued below the photo's bottom edge.
const cutExtra = 360

type roomRenderer struct {
	room, corridor, frame   gocv.Mat
	person, mask            [2]gocv.Mat // the cut-out and its silhouette: the shopper, the other
	scaled, scaledMask, tmp gocv.Mat
	noise                   gocv.Mat
}

func newRoomRenderer(photo gocv.Mat) *roomRenderer {
	r := &roomRenderer{frame: gocv.NewMat(), scaled: gocv.NewMat(), scaledMask: gocv.NewMat(), tmp: gocv.NewMat(), noise: gocv.NewMat()}
	r.room, r.corridor = roomWall(photo), corridorWall()
	person, mask := cutOut(photo)
	r.person[0], r.mask[0] = person, mask
	// The other shopper: mirrored, with other clothes (the colours below the chin swapped).
	other, omask := gocv.NewMat(), gocv.NewMat()
	gocv.Flip(person, &other, 1)
	gocv.Flip(mask, &omask, 1)
	chin := sourceFace.Max.Y - cutCrop.Min.Y + 10
	body := other.Region(image.Rect(0, chin, other.Cols(), other.Rows()))
	swapped := gocv.NewMat()
	gocv.CvtColor(body, &swapped, gocv.ColorBGRToRGB)
	swapped.CopyTo(&body)
	swapped.Close()
	body.Close()
	r.person[1], r.mask[1] = other, omask
	return r
}

// cutOut separates the person from the photo's background with grabCut, cleans the mask, and
// continues the shirt downwards (the photo ends at the chest).
func cutOut(photo gocv.Mat) (gocv.Mat, gocv.Mat) {
	mask := gocv.NewMat()
	bgd, fgd := gocv.NewMat(), gocv.NewMat()
	defer bgd.Close()
	defer fgd.Close()
	// grabCut seeds its colour models from OpenCV's random state, which is per OS thread:
	// seeded here on a locked thread, the cut-out (and so every clip) is the same each run.
	runtime.LockOSThread()
	gocv.SetRNGSeed(0x700f)
	gocv.GrabCut(photo, &mask, image.Rect(150, 40, 560, 479), &bgd, &fgd, 4, gocv.GCInitWithRect)
	runtime.UnlockOSThread()
	// Foreground and probable foreground (1 and 3) → 255.
	fg := gocv.NewMat()
	defer fg.Close()
	gocv.Threshold(mask, &fg, 0, 255, gocv.ThresholdBinary) // 1, 2, 3 → 255
	bgp := gocv.NewMat()
	defer bgp.Close()
	gocv.InRangeWithScalar(mask, gocv.NewScalar(2, 0, 0, 0), gocv.NewScalar(2, 0, 0, 0), &bgp) // probable background
	gocv.Subtract(fg, bgp, &fg)
	k := gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(9, 9))
	defer k.Close()
	gocv.MorphologyEx(fg, &fg, gocv.MorphOpen, k)
	gocv.MorphologyEx(fg, &fg, gocv.MorphClose, k)
	mask.Close()
	// The face itself is always the person's (grabCut may nibble at it).
	gocv.Ellipse(&fg, image.Pt((sourceFace.Min.X+sourceFace.Max.X)/2, (sourceFace.Min.Y+sourceFace.Max.Y)/2),
		image.Pt(sourceFace.Dx()*45/100, sourceFace.Dy()*55/100), 0, 0, 360, color.RGBA{255, 255, 255, 0}, -1)
	pc, mc := photo.Region(cutCrop), fg.Region(cutCrop)
	defer pc.Close()
	defer mc.Close()
	person, pmask := gocv.NewMat(), gocv.NewMat()
	gocv.CopyMakeBorder(pc, &person, 0, cutExtra, 0, 0, gocv.BorderConstant, color.RGBA{})
	gocv.CopyMakeBorder(mc, &pmask, 0, cutExtra, 0, 0, gocv.BorderConstant, color.RGBA{})
	// The photo ends at the neck: a shirt (shoulders and torso, with folds) below it.
	fw := sourceFace.Dx()
	cx := (sourceFace.Min.X+sourceFace.Max.X)/2 - cutCrop.Min.X
	chin := sourceFace.Max.Y - cutCrop.Min.Y - fw/12
	bottom := person.Rows()
	torso := [][]image.Point{{
		{cx - fw/4, chin}, {cx + fw/4, chin},
		{cx + fw, chin + fw/4}, {cx + fw*11/10, chin + fw/2}, {cx + fw*6/5, bottom},
		{cx - fw*6/5, bottom}, {cx - fw*11/10, chin + fw/2}, {cx - fw, chin + fw/4},
	}}
	pv := gocv.NewPointsVectorFromPoints(torso)
	defer pv.Close()
	gocv.FillPoly(&person, pv, color.RGBA{140, 60, 50, 0})
	gocv.FillPoly(&pmask, pv, color.RGBA{255, 255, 255, 0})
	for x := cx - fw; x <= cx+fw; x += fw / 5 {
		gocv.Line(&person, image.Pt(x, chin+fw/3), image.Pt(x+(x-cx)/6, bottom), color.RGBA{110, 45, 40, 0}, 3)
	}
	gocv.Ellipse(&person, image.Pt(cx, chin), image.Pt(fw/5, fw/8), 0, 0, 180, color.RGBA{200, 160, 130, 0}, -1) // the neck
	return person, pmask
}

func (r *roomRenderer) draw(sc RoomScene, rng *rand.Rand) {
	if sc.Gain == 0 {
		sc.Gain = 1
	}
	if sc.Noise == 0 {
		sc.Noise = 3
	}
	r.room.CopyTo(&r.frame)
	// The corridor through the opening, with its passers-by, and the curtain over the rest.
	open := int(float64(entrance)*math.Max(0, math.Min(1, sc.Open)) + sc.Sway)
	open = max(0, min(entrance-20, open))
	if open > 0 {
		view := image.Rect(0, 0, open, Height*5/6)
		cw, fw := r.corridor.Region(view), r.frame.Region(view)
		cw.CopyTo(&fw)
		cw.Close()
		fw.Close()
		for _, p := range sc.Passers {
			r.person1(p, view)
		}
	}
	for x := open; x < entrance; x += 14 { // the curtain's folds
		shade := 70 + int(25*math.Sin(float64(x-open)/14*math.Pi+sc.Sway/10))
		gocv.Rectangle(&r.frame, image.Rect(x, 0, min(entrance, x+14), Height*5/6), color.RGBA{uint8(shade), uint8(shade / 2), uint8(shade * 2 / 3), 0}, -1)
	}
	for _, p := range sc.Shoppers {
		r.person1(p, image.Rect(0, 0, Width, Height))
	}
	// Light, then sensor noise.
	r.frame.ConvertToWithParams(&r.frame, gocv.MatTypeCV8UC3, float32(sc.Gain), 0)
	buf := make([]byte, Width*Height*3)
	for i := range buf {
		buf[i] = byte(rng.IntN(2*sc.Noise + 1))
	}
	n, _ := gocv.NewMatFromBytes(Height, Width, gocv.MatTypeCV8UC3, buf)
	gocv.Add(r.frame, n, &r.frame)
	n.Close()
	r.frame.SubtractUChar(uint8(sc.Noise))
}

// person1 composites one person, clipped to clip, through their silhouette.
func (r *roomRenderer) person1(p Shopper, clip image.Rectangle) {
	k := 0
	if p.Other {
		k = 1
	}
	src, msk := r.person[k], r.mask[k]
	size := image.Pt(int(float64(src.Cols())*p.Scale), int(float64(src.Rows())*p.Scale))
	dst := image.Rectangle{Min: image.Pt(p.X, p.Y), Max: image.Pt(p.X, p.Y).Add(size)}
	vis := dst.Intersect(clip)
	if vis.Empty() {
		return
	}
	gocv.Resize(src, &r.scaled, size, 0, 0, gocv.InterpolationArea)
	gocv.Resize(msk, &r.scaledMask, size, 0, 0, gocv.InterpolationNearestNeighbor)
	if p.Away {
		// The back of the head over the face, and the shirt's back a little darker.
		f := shopperFace(Shopper{Scale: p.Scale, Other: p.Other})
		c := image.Pt((f.Min.X+f.Max.X)/2, (f.Min.Y+f.Max.Y)/2-f.Dy()/10)
		gocv.Ellipse(&r.scaled, c, image.Pt(f.Dx()/2, f.Dy()*6/10), 0, 0, 360, color.RGBA{30, 24, 20, 0}, -1)
		gocv.Ellipse(&r.scaledMask, c, image.Pt(f.Dx()/2, f.Dy()*6/10), 0, 0, 360, color.RGBA{255, 255, 255, 0}, -1)
	}
	s, m, d := r.scaled.Region(vis.Sub(dst.Min)), r.scaledMask.Region(vis.Sub(dst.Min)), r.frame.Region(vis)
	s.CopyToWithMask(&d, m)
	s.Close()
	m.Close()
	d.Close()
}

func (r *roomRenderer) Close() {
	for _, m := range []*gocv.Mat{&r.room, &r.corridor, &r.frame, &r.scaled, &r.scaledMask, &r.tmp, &r.noise,
		&r.person[0], &r.person[1], &r.mask[0], &r.mask[1]} {
		m.Close()
	}
}

// roomWall draws the empty fitting room: a warm wall lit from above by the mirror's lights, a
// floor, a face poster (the photo's face in a frame) and patterned garments on a hook.
func roomWall(photo gocv.Mat) gocv.Mat {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(80, 95, 110, 0), Height, Width, gocv.MatTypeCV8UC3)
	for y := 0; y < Height*5/6; y += 6 {
		l := 50 * (Height - y) / Height
		gocv.Rectangle(&m, image.Rect(entrance, y, Width, y+6), color.RGBA{uint8(165 + l/2), uint8(155 + l/2), uint8(140 + l/2), 0}, -1)
	}
	// The poster: the photo's face, framed.
	gocv.Rectangle(&m, poster.Inset(-6), color.RGBA{40, 40, 40, 0}, -1)
	crop := photo.Region(image.Rect(175, 70, 520, 470))
	pr := m.Region(poster)
	gocv.Resize(crop, &pr, poster.Size(), 0, 0, gocv.InterpolationArea)
	crop.Close()
	pr.Close()
	// A hook and garments: a checked shirt, a striped dress, a dotted scarf.
	gocv.Line(&m, image.Pt(520, 200), image.Pt(635, 200), color.RGBA{60, 60, 60, 0}, 3)
	shirt := image.Rect(525, 205, 585, 330)
	gocv.Rectangle(&m, shirt, color.RGBA{200, 40, 40, 0}, -1)
	for x := shirt.Min.X; x < shirt.Max.X; x += 8 {
		gocv.Line(&m, image.Pt(x, shirt.Min.Y), image.Pt(x, shirt.Max.Y), color.RGBA{20, 20, 30, 0}, 2)
	}
	for y := shirt.Min.Y; y < shirt.Max.Y; y += 8 {
		gocv.Line(&m, image.Pt(shirt.Min.X, y), image.Pt(shirt.Max.X, y), color.RGBA{240, 230, 220, 0}, 2)
	}
	dress := m.Region(image.Rect(588, 205, 632, 360))
	dress.SetTo(gocv.NewScalar(120, 30, 30, 0))
	for k := -200; k < 60; k += 10 {
		gocv.Line(&dress, image.Pt(k, 0), image.Pt(k+150, 155), color.RGBA{230, 230, 240, 0}, 3)
	}
	dress.Close()
	return m
}

// corridorWall is what the opening shows: a corridor wall, darker and cooler, with shelves.
func corridorWall() gocv.Mat {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(150, 140, 120, 0), Height, Width, gocv.MatTypeCV8UC3)
	for y := 60; y < Height*5/6; y += 70 {
		gocv.Rectangle(&m, image.Rect(0, y, entrance, y+8), color.RGBA{90, 70, 50, 0}, -1)
		for x := 5; x < entrance; x += 22 {
			gocv.Rectangle(&m, image.Rect(x, y-40, x+16, y), color.RGBA{uint8(60 + x%90), uint8(90 + x%70), uint8(120 + x%50), 0}, -1)
		}
	}
	return m
}

// Poster is where the face poster hangs: a face the detectors may find, which is scenery.
func Poster() image.Rectangle { return poster }

// FacesAt are the shoppers' faces a detector should find at media time t: near, turned to the
// mirror, and wholly in the frame.
func (s RoomSpec) FacesAt(t time.Duration) []image.Rectangle {
	var out []image.Rectangle
	for _, p := range s.Scene(t).Shoppers {
		if f := shopperFace(p); p.Scale >= nearScale && !p.Away && f.In(image.Rect(0, 0, Width, Height)) {
			out = append(out, f)
		}
	}
	return out
}
