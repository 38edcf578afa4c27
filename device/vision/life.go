package vision

import (
	"image"
	"math"
	"time"

	"gocv.io/x/gocv"
)

// A face with no foreground under it is either scenery (a poster, a photo, a still picture on
// a screen) or a person who was in view when the room's model began, so that the model learnt
// them as the room. The life watch tells them apart: a printed face is still to the pixel, a
// living one is not — it blinks, talks, and its box moves and changes scale by a little. A
// face is watched for up to lifeWatch; one that shows life within it is a person (and the
// model is told that the place where they stand is not the room), one that does not is
// scenery for good.
const (
	lifeWatch = 2500 * time.Millisecond
	lifeCrop  = 16 // the face is compared on a lifeCrop×lifeCrop grey copy
	// lifeShift is the movement of the box's centre, as a share of its width (and at least
	// lifePixels), and lifeScale the change of its width (at least lifePixels+1) that count as
	// life; lifeLook the mean change of the face's contrast-normalised look (in standard
	// deviations) that does. A printed face under sensor noise and a light fade measures up to
	// 5 px (6%) of box drift, 12% of width (BlazeFace's box around the shopper or in the whole
	// frame) and 0.068 of look (dim light with sensor noise); a real face at rest 0.06 to 0.2 of
	// look within a second.
	lifePixels = 5
	lifeShift  = 0.1
	lifeScale  = 0.2
	lifeLook   = 0.08
)

// lifeCheck is one face under the life watch.
type lifeCheck struct {
	first        image.Rectangle // the box when first seen: the look is compared there
	box          image.Rectangle // the latest box (matching follows it)
	since, at    time.Time
	look         []float32
	shift, scale float64 // the largest seen so far, in pixels
	change       float64
	alive        bool
}

// watchLife feeds an unsupported face f to the life watch and says whether it shows life
// (true), or is still watched (false, false), or has shown none for lifeWatch (dead).
func (a *Analyzer) watchLife(frame gocv.Mat, f image.Rectangle, at time.Time) (alive, dead bool, since time.Time) {
	var c *lifeCheck
	for i := range a.lives {
		if iou(a.lives[i].box, f) > 0.3 {
			c = &a.lives[i]
			break
		}
	}
	if c == nil {
		look := a.faceLook(frame, lookBox(f))
		if look == nil {
			return false, true, at
		}
		a.lives = append(a.lives, lifeCheck{first: f, box: f, since: at, at: at, look: look})
		return false, false, at
	}
	c.box, c.at = f, at
	if c.alive {
		return true, false, c.since
	}
	fw := float64(c.first.Dx())
	d := f.Min.Add(f.Max).Sub(c.first.Min.Add(c.first.Max))
	c.shift = math.Max(c.shift, math.Hypot(float64(d.X), float64(d.Y))/2)
	c.scale = math.Max(c.scale, math.Abs(float64(f.Dx())-fw))
	if look := a.faceLook(frame, lookBox(c.first)); look != nil {
		var s float64
		for i := range look {
			s += math.Abs(float64(look[i] - c.look[i]))
		}
		c.change = math.Max(c.change, s/float64(len(look)))
	}
	if lifeDebug != nil {
		lifeDebug(at, f, c.shift, c.scale, c.change)
	}
	c.alive = c.shift >= math.Max(lifeShift*fw, lifePixels) || c.scale >= math.Max(lifeScale*fw, lifePixels+1) ||
		c.change >= lifeLook
	if c.alive {
		return true, false, c.since
	}
	return false, at.Sub(c.since) >= lifeWatch, c.since
}

// lifeDebug, when set (tests), sees every measurement of the life watch.
var lifeDebug func(at time.Time, f image.Rectangle, shift, scale, change float64)

// forgetLives drops the faces not seen for a second.
func (a *Analyzer) forgetLives(at time.Time) {
	keep := a.lives[:0]
	for _, c := range a.lives {
		if at.Sub(c.at) <= time.Second {
			keep = append(keep, c)
		}
	}
	a.lives = keep
}

// lookBox is the part of a face box whose look is compared: eyes, nose and mouth, not the
// edges, where a shoulder or a hand in front of a poster would pass for life.
func lookBox(f image.Rectangle) image.Rectangle {
	w, h := f.Dx(), f.Dy()
	return image.Rect(f.Min.X+w/5, f.Min.Y+h/10, f.Max.X-w/5, f.Min.Y+h*7/10)
}

// faceLook is the face in r as lifeCrop² grey levels normalised to mean 0 and standard
// deviation 1 (so a light fade does not look like life); nil for a flat or empty region.
func (a *Analyzer) faceLook(frame gocv.Mat, r image.Rectangle) []float32 {
	r = r.Intersect(image.Rect(0, 0, frame.Cols(), frame.Rows()))
	if r.Dx() < lifeCrop || r.Dy() < lifeCrop {
		return nil
	}
	reg := frame.Region(r)
	defer reg.Close()
	gocv.Resize(reg, &a.lifeSmall, image.Pt(lifeCrop, lifeCrop), 0, 0, gocv.InterpolationArea)
	src := a.lifeSmall
	if src.Channels() != 1 {
		gocv.CvtColor(a.lifeSmall, &a.lifeGrey, gocv.ColorBGRToGray)
		src = a.lifeGrey
	}
	px, err := src.DataPtrUint8()
	if err != nil || len(px) != lifeCrop*lifeCrop {
		return nil
	}
	var sum, sq float64
	for _, v := range px {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(px))
	mean := sum / n
	sd := math.Sqrt(math.Max(0, sq/n-mean*mean))
	if sd < 2 {
		return nil
	}
	out := make([]float32, len(px))
	for i, v := range px {
		out[i] = float32((float64(v) - mean) / sd)
	}
	return out
}
