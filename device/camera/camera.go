// Package camera reads frames with OpenCV (gocv): from a V4L2 device (an index or /dev/videoN),
// a GStreamer pipeline (the Raspberry Pi camera module through libcamerasrc: the "picamera"
// shortcut), a video file, a folder of images, or an rtsp:// or http:// stream.
//
// Wiring: a USB (UVC) webcam above the mirror, looking at the shopper, on the computer's USB
// port; it appears as /dev/video0. Live devices are asked for MJPG (so 720p runs at full rate
// over USB 2), the configured size and rate, and a buffer of one frame so frames are fresh.
// An IP camera works through its rtsp:// or http:// (MJPEG) URL. A Raspberry Pi camera module
// (CSI ribbon cable) is driven by libcamera, which OpenCV reaches through its GStreamer backend.
//
// A live camera that does not open is diagnosed: ErrNoCamera, ErrCameraBusy (another program
// holds it, named by PID) or ErrLibcameraMissing, so `mirror-agent check` can say which.
//
// Live cameras fail in three ways, which Monitor tells apart for telemetry: unplugged (read
// errors), stalled (no frames) and frozen (the same frame over and over); device/vision reopens
// them with the shared retry spacing of internal/backoff.
//
// An MJPG video file can hand over its frames still encoded (Options.Encoded, ReadPicture): a
// Picture decodes its JPEG only when asked, at full size or at 1/2, 1/4 or 1/8 of it through
// libjpeg's DCT scaling, so the presence analysis, which works on small images, does not pay
// for a full decode, and a frame skipped for the frame rate is not decoded at all.
//
// Frames stay in memory: nothing here writes a camera frame to disk. Together with device/vision
// this is the only package tree that uses cgo.
package camera

import (
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// Options says which camera to open and how.
type Options struct {
	// Source is "auto", a device index ("0"), a device path ("/dev/video0"), "picamera"
	// (PiCameraPipeline), a GStreamer pipeline ending in appsink, a video file, a folder of
	// images (played in name order), or an rtsp:// / http:// URL.
	Source string
	// DemoClip is played when Source is "auto" and the machine has no /dev/video* device.
	DemoClip string
	// Width, Height and FPS are requested from live devices (0 = the device's default).
	// For an image folder FPS is the playback rate (0 = 15).
	Width, Height int
	FPS           float64
	// Loop starts a file or folder over at its end instead of returning io.EOF.
	Loop bool
	// Rotation turns every frame clockwise by 0, 90, 180 or 270 degrees, for a camera mounted
	// sideways or upside down behind the glass: faces reach the detector upright and photos
	// are stored upright (OpenCV writes no EXIF orientation, so the pixels must be right).
	Rotation int
	// Paced delivers file and folder frames at their media rate, like a live camera.
	// Unpaced sources deliver frames as fast as they decode (replay).
	Paced bool
	// Encoded keeps the frames of an MJPG video file encoded: ReadPicture hands over each
	// frame's JPEG, decoded only when and at the size its user asks (Picture). Other sources
	// and codecs are decoded as usual. Read and Skip work either way.
	Encoded bool
}

// Frame describes one frame read into the caller's Mat.
type Frame struct {
	Index     int           // frame number since Open (keeps counting across loops)
	MediaTime time.Duration // Index / FPS: the frame's time on the media's own clock
	At        time.Time     // wall time when the frame was read
}

// Kind of source.
type Kind string

const (
	KindDevice Kind = "device"
	KindFile   Kind = "file"
	KindFolder Kind = "folder"
	KindStream Kind = "stream"
	// KindPipeline is a GStreamer pipeline (a Pi camera module): a live source like a device.
	KindPipeline Kind = "pipeline"
)

// Source is an open camera. It is not safe for concurrent use.
type Source struct {
	opts   Options
	kind   Kind
	name   string // resolved source, for messages
	gst    string // the GStreamer pipeline of a KindPipeline source
	cap    *gocv.VideoCapture
	files  []string // folder
	next   int      // folder position
	fps    float64
	index  int
	start  time.Time
	width  int
	height int

	scratch gocv.Mat // for Skip on files and folders
	hasScr  bool
	spare   *gocv.Mat // rotation's other buffer
	encoded bool      // the capture returns each frame's JPEG (Options.Encoded on an MJPG file)
	pic     *Picture  // Read's picture on an encoded source
}

// HasDevice says whether the machine has a V4L2 camera device (/dev/video*), which "auto" uses.
func HasDevice() bool {
	devs, _ := filepath.Glob("/dev/video*")
	return len(devs) > 0
}

// Resolve turns "auto" into the first /dev/video* device, or the demo clip when there is none.
func Resolve(opts Options) (string, error) {
	if opts.Source != "" && opts.Source != "auto" {
		return opts.Source, nil
	}
	devs, _ := filepath.Glob("/dev/video*")
	sort.Slice(devs, func(i, j int) bool { return devNum(devs[i]) < devNum(devs[j]) })
	if len(devs) > 0 {
		return devs[0], nil
	}
	if opts.DemoClip == "" {
		return "", errors.New("camera: no camera found (no /dev/video*) and no demo clip configured; set camera.source")
	}
	if _, err := os.Stat(opts.DemoClip); err != nil {
		return "", fmt.Errorf("camera: %w (no /dev/video*) and no demo clip at %s: set camera.source", ErrNoCamera, opts.DemoClip)
	}
	return opts.DemoClip, nil
}

func devNum(path string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(path, "/dev/video"))
	if err != nil {
		return 1 << 30
	}
	return n
}

// Open opens the source named by opts and reads nothing yet beyond a probe of files and folders,
// so a missing, unreadable or corrupt input fails here with an error that names it.
func Open(opts Options) (*Source, error) {
	switch opts.Rotation {
	case 0, 90, 180, 270:
	default:
		return nil, fmt.Errorf("camera: rotation %d: must be 0, 90, 180 or 270", opts.Rotation)
	}
	name, err := Resolve(opts)
	if err != nil {
		return nil, err
	}
	s := &Source{opts: opts, name: name, start: time.Now()}
	switch {
	case isURL(name):
		s.kind = KindStream
		err = s.openCapture()
	case IsPipeline(name):
		s.kind, s.gst = KindPipeline, name
		if name == PiCamera {
			s.gst = PiCameraPipeline(opts.Width, opts.Height, opts.FPS)
		}
		if err = checkPipeline(s.gst); err == nil {
			err = s.openCapture()
		}
	case isIndex(name) || strings.HasPrefix(name, "/dev/video"):
		s.kind = KindDevice
		err = s.openCapture()
	default:
		fi, statErr := os.Stat(name)
		if statErr != nil {
			return nil, fmt.Errorf("camera: open %s: %w", name, unwrapPathError(statErr))
		}
		if fi.IsDir() {
			s.kind = KindFolder
			err = s.openFolder()
		} else {
			s.kind = KindFile
			if f, ferr := os.Open(name); ferr != nil {
				return nil, fmt.Errorf("camera: open %s: %w", name, unwrapPathError(ferr))
			} else {
				f.Close()
			}
			err = s.openCapture()
		}
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

func (s *Source) openCapture() error {
	var (
		vc  *gocv.VideoCapture
		err error
	)
	switch s.kind {
	case KindDevice:
		id := s.name
		if strings.HasPrefix(id, "/dev/video") {
			id = strings.TrimPrefix(id, "/dev/video")
		}
		n, convErr := strconv.Atoi(id)
		if convErr != nil {
			return fmt.Errorf("camera: %s is not a video device", s.name)
		}
		vc, err = gocv.OpenVideoCaptureWithAPI(n, gocv.VideoCaptureV4L2)
		if err == nil {
			// MJPG lets USB cameras deliver 720p at full rate; a buffer of one keeps frames fresh.
			vc.Set(gocv.VideoCaptureFOURCC, vc.ToCodec("MJPG"))
			if s.opts.Width > 0 {
				vc.Set(gocv.VideoCaptureFrameWidth, float64(s.opts.Width))
			}
			if s.opts.Height > 0 {
				vc.Set(gocv.VideoCaptureFrameHeight, float64(s.opts.Height))
			}
			if s.opts.FPS > 0 {
				vc.Set(gocv.VideoCaptureFPS, s.opts.FPS)
			}
			vc.Set(gocv.VideoCaptureBufferSize, 1)
		}
		if err != nil || vc == nil || !vc.IsOpened() {
			if why := diagnoseDevice("/dev/video"+id, realEnv()); why != nil {
				closeCapture(vc)
				return fmt.Errorf("camera: cannot open %s: %w", s.name, why)
			}
		}
	case KindPipeline:
		vc, err = gocv.VideoCaptureFileWithAPI(s.gst, gocv.VideoCaptureGstreamer)
		if err != nil || vc == nil || !vc.IsOpened() {
			closeCapture(vc)
			if why := diagnosePipeline(s.gst, realEnv()); why != nil {
				return fmt.Errorf("camera: cannot open %s: %w", s.name, why)
			}
			return fmt.Errorf("camera: GStreamer pipeline %q did not start (try it with gst-launch-1.0, fakesink in place of appsink)", s.gst)
		}
	default:
		// FFmpeg reads files and rtsp/http streams; naming it skips OpenCV's probing of
		// GStreamer and image sequences, which only adds noise for a bad file.
		vc, err = gocv.VideoCaptureFileWithAPI(s.name, gocv.VideoCaptureFFmpeg)
	}
	if err != nil || vc == nil || !vc.IsOpened() {
		closeCapture(vc)
		return fmt.Errorf("camera: cannot open %s as video (missing codec, corrupt file or not a camera)", s.name)
	}
	s.cap = vc
	s.fps = vc.Get(gocv.VideoCaptureFPS)
	if s.fps <= 0 || s.fps > 240 {
		s.fps = s.opts.FPS
		if s.fps <= 0 {
			s.fps = 15
		}
	}
	s.width = int(vc.Get(gocv.VideoCaptureFrameWidth))
	s.height = int(vc.Get(gocv.VideoCaptureFrameHeight))
	if s.kind == KindFile {
		// Probe one frame so a corrupt or empty file fails at Open, then rewind.
		m := gocv.NewMat()
		defer m.Close()
		if !vc.Read(&m) || m.Empty() {
			vc.Close()
			s.cap = nil
			return fmt.Errorf("camera: %s: no decodable video frames", s.name)
		}
		s.width, s.height = m.Cols(), m.Rows()
		vc.Set(gocv.VideoCapturePosFrames, 0)
		if s.opts.Encoded {
			return s.rawPackets()
		}
	}
	return nil
}

// rawPackets switches an MJPG file's capture to its encoded packets (FFmpeg's raw mode,
// CAP_PROP_FORMAT -1), after checking that the first one is a JPEG of the probed size. A file
// of another codec, or one whose packets are not whole JPEGs, is reopened and decoded as usual.
func (s *Source) rawPackets() error {
	fcc := uint32(s.cap.Get(gocv.VideoCaptureFOURCC))
	if tag := string([]byte{byte(fcc), byte(fcc >> 8), byte(fcc >> 16), byte(fcc >> 24)}); !strings.EqualFold(tag, "MJPG") {
		return nil
	}
	s.cap.Set(gocv.VideoCaptureFormat, -1)
	ok := s.cap.Get(gocv.VideoCaptureFormat) == -1
	if ok {
		m := gocv.NewMat()
		var b []byte
		if ok = s.cap.Read(&m); ok {
			b, _ = m.DataPtrUint8()
		}
		size, isJPEG := jpegSize(b)
		m.Close()
		ok = ok && isJPEG && size == image.Pt(s.width, s.height)
	}
	if ok {
		s.cap.Set(gocv.VideoCapturePosFrames, 0)
		s.encoded = true
		return nil
	}
	s.cap.Close()
	s.cap = nil
	s.opts.Encoded = false
	return s.openCapture()
}

func closeCapture(vc *gocv.VideoCapture) {
	if vc != nil {
		vc.Close()
	}
}

var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true, ".webp": true}

func (s *Source) openFolder() error {
	entries, err := os.ReadDir(s.name)
	if err != nil {
		return fmt.Errorf("camera: read folder %s: %w", s.name, unwrapPathError(err))
	}
	for _, e := range entries {
		if !e.IsDir() && imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
			s.files = append(s.files, filepath.Join(s.name, e.Name()))
		}
	}
	if len(s.files) == 0 {
		return fmt.Errorf("camera: folder %s has no images (.jpg, .png, .bmp, .webp)", s.name)
	}
	s.fps = s.opts.FPS
	if s.fps <= 0 {
		s.fps = 15
	}
	m := gocv.IMRead(s.files[0], gocv.IMReadColor)
	defer m.Close()
	if m.Empty() {
		return fmt.Errorf("camera: %s: cannot decode image", s.files[0])
	}
	s.width, s.height = m.Cols(), m.Rows()
	return nil
}

// Kind says what the source is.
func (s *Source) Kind() Kind { return s.kind }

// Live says whether the source is a camera (device, pipeline or stream) rather than a recording.
func (s *Source) Live() bool {
	return s.kind == KindDevice || s.kind == KindStream || s.kind == KindPipeline
}

// Pipeline is the GStreamer pipeline of a KindPipeline source ("" for the others): for
// "picamera", the pipeline the shortcut stands for.
func (s *Source) Pipeline() string { return s.gst }

// Name is the resolved source (a device path, file, folder or URL).
func (s *Source) Name() string { return s.name }

// FPS is the source's frame rate (media rate for files and folders).
func (s *Source) FPS() float64 { return s.fps }

// Size is the frame size reported at open.
func (s *Source) Size() (w, h int) {
	if s.opts.Rotation == 90 || s.opts.Rotation == 270 {
		return s.height, s.width
	}
	return s.width, s.height
}

// rotate turns dst by the configured rotation (rotate).
func (s *Source) rotate(dst *gocv.Mat) {
	if s.opts.Rotation == 0 {
		return
	}
	if s.spare == nil {
		m := gocv.NewMat()
		s.spare = &m
	}
	rotate(dst, s.spare, s.opts.Rotation)
}

// rotate turns dst clockwise by rotation degrees (0, 90, 180, 270), swapping it with spare
// (no copy: the caller's Mat becomes the rotated frame).
func rotate(dst, spare *gocv.Mat, rotation int) {
	var code gocv.RotateFlag
	switch rotation {
	case 90:
		code = gocv.Rotate90Clockwise
	case 180:
		code = gocv.Rotate180Clockwise
	case 270:
		code = gocv.Rotate90CounterClockwise
	default:
		return
	}
	gocv.Rotate(*dst, spare, code)
	*dst, *spare = *spare, *dst
}

// Read reads the next frame into dst. At the end of a file or folder that does not loop it
// returns io.EOF. A live source that stops delivering returns an error naming it.
func (s *Source) Read(dst *gocv.Mat) (Frame, error) {
	if s.encoded {
		if s.pic == nil {
			s.pic = NewPicture()
		}
		f, err := s.ReadPicture(s.pic)
		if err != nil {
			return f, err
		}
		full, err := s.pic.Full()
		if err != nil {
			return Frame{}, fmt.Errorf("camera: %s: frame %d: %w", s.name, f.Index, err)
		}
		full.CopyTo(dst)
		return f, nil
	}
	if err := s.readPixels(dst); err != nil {
		return Frame{}, err
	}
	s.rotate(dst)
	return s.advance(), nil
}

// ReadPicture reads the next frame into p: its JPEG when the source is encoded (Options.Encoded
// on an MJPG file), decoded at the size asked for only when p is asked; else the decoded frame.
// It ends and fails as Read does; a packet that is not a JPEG is an error naming the frame.
func (s *Source) ReadPicture(p *Picture) (Frame, error) {
	p.reset()
	if !s.encoded {
		f, err := s.Read(&p.full)
		if err != nil {
			return f, err
		}
		p.hasFull, p.size = true, image.Pt(p.full.Cols(), p.full.Rows())
		return f, nil
	}
	if err := s.readPixels(&p.raw); err != nil {
		return Frame{}, err
	}
	b, err := p.raw.DataPtrUint8()
	size, ok := jpegSize(b)
	if err != nil || !ok {
		return Frame{}, fmt.Errorf("camera: %s: frame %d is not a JPEG", s.name, s.index)
	}
	if s.opts.Rotation == 90 || s.opts.Rotation == 270 {
		size.X, size.Y = size.Y, size.X
	}
	p.buf = append(p.buf[:0], b...)
	p.jpeg, p.size, p.rotation = p.buf, size, s.opts.Rotation
	return s.advance(), nil
}

// readPixels reads the next frame's Mat (decoded, or the packet of an encoded source) into
// dst, starting a looping file over at its end.
func (s *Source) readPixels(dst *gocv.Mat) error {
	if s.kind == KindFolder {
		return s.readFolder(dst)
	}
	if s.cap == nil {
		return fmt.Errorf("camera: %s is closed", s.name)
	}
	ok := s.cap.Read(dst)
	if (!ok || dst.Empty()) && s.kind == KindFile {
		if !s.opts.Loop {
			return io.EOF
		}
		s.cap.Set(gocv.VideoCapturePosFrames, 0)
		ok = s.cap.Read(dst)
	}
	if !ok || dst.Empty() {
		return fmt.Errorf("camera: %s delivered no frame", s.name)
	}
	return nil
}

// advance counts the frame just read and, for a paced file or folder, waits for its media time.
func (s *Source) advance() Frame {
	f := Frame{Index: s.index, MediaTime: s.mediaTime(s.index)}
	if s.index == 0 {
		// The paced clock starts at the first frame: a slow open (the probe of a file, a loaded
		// or emulated machine) must not make the first frames come early.
		s.start = time.Now()
	}
	s.index++
	if s.opts.Paced && (s.kind == KindFile || s.kind == KindFolder) {
		if wait := time.Until(s.start.Add(f.MediaTime)); wait > 0 {
			time.Sleep(wait)
		}
	}
	f.At = time.Now()
	return f
}

func (s *Source) mediaTime(i int) time.Duration {
	return time.Duration(float64(i) / s.fps * float64(time.Second))
}

func (s *Source) readFolder(dst *gocv.Mat) error {
	if s.next >= len(s.files) {
		if !s.opts.Loop {
			return io.EOF
		}
		s.next = 0
	}
	path := s.files[s.next]
	s.next++
	m := gocv.IMRead(path, gocv.IMReadColor)
	defer m.Close()
	if m.Empty() {
		return fmt.Errorf("camera: %s: cannot decode image", path)
	}
	m.CopyTo(dst)
	return nil
}

// Skip advances past the next frame. Live cameras and streams grab it without decoding
// (a pipeline running below the camera's rate saves the MJPEG decode); files and folders
// decode it, so end of input and corrupt frames are noticed, except an encoded file, whose
// packet is read and checked to be a JPEG but not decoded. It returns what Read would,
// without the pixels.
func (s *Source) Skip() (Frame, error) {
	if s.Live() {
		if s.cap == nil {
			return Frame{}, fmt.Errorf("camera: %s is closed", s.name)
		}
		s.cap.Grab(1)
		f := Frame{Index: s.index, MediaTime: s.mediaTime(s.index), At: time.Now()}
		s.index++
		return f, nil
	}
	if s.encoded {
		if s.pic == nil {
			s.pic = NewPicture()
		}
		return s.ReadPicture(s.pic)
	}
	if !s.hasScr {
		s.scratch, s.hasScr = gocv.NewMat(), true
	}
	return s.Read(&s.scratch)
}

// Close releases the capture device or file.
func (s *Source) Close() error {
	if s.hasScr {
		s.scratch.Close()
		s.hasScr = false
	}
	if s.spare != nil {
		s.spare.Close()
		s.spare = nil
	}
	if s.pic != nil {
		s.pic.Close()
		s.pic = nil
	}
	if s.cap != nil {
		err := s.cap.Close()
		s.cap = nil
		return err
	}
	return nil
}

// QuietLibraries stops OpenCV and FFmpeg from printing their own warnings to stderr
// (a corrupt file makes FFmpeg print several lines before this package reports one clear
// error). Variables the operator set are left alone. Call it first thing in main.
func QuietLibraries() {
	for k, v := range map[string]string{
		"OPENCV_LOG_LEVEL":       "FATAL",
		"OPENCV_FFMPEG_LOGLEVEL": "-8", // AV_LOG_QUIET
		"LIBCAMERA_LOG_LEVELS":   "*:FATAL",
	} {
		if _, set := os.LookupEnv(k); !set {
			os.Setenv(k, v)
		}
	}
}
