package camera

import (
	"fmt"

	"gocv.io/x/gocv"
)

// EncodeJPEG encodes a BGR frame as JPEG at the given quality (1..100).
func EncodeJPEG(m gocv.Mat, quality int) ([]byte, error) {
	if m.Empty() {
		return nil, fmt.Errorf("camera: encode jpeg: empty frame")
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		return nil, fmt.Errorf("camera: encode jpeg: %w", err)
	}
	defer buf.Close()
	b := buf.GetBytes()
	out := make([]byte, len(b))
	copy(out, b)
	return out, nil
}

// Writer writes frames to an MJPG video file (used to make demo and test clips).
type Writer struct {
	vw *gocv.VideoWriter
}

// CreateVideo opens path (".avi") for writing w×h colour frames at fps.
func CreateVideo(path string, fps float64, w, h int) (*Writer, error) {
	vw, err := gocv.VideoWriterFile(path, "MJPG", fps, w, h, true)
	if err != nil {
		return nil, fmt.Errorf("camera: create video %s: %w", path, err)
	}
	if !vw.IsOpened() {
		vw.Close()
		return nil, fmt.Errorf("camera: create video %s: writer did not open", path)
	}
	return &Writer{vw: vw}, nil
}

// Write appends one frame.
func (w *Writer) Write(m gocv.Mat) error { return w.vw.Write(m) }

// Close finishes the file.
func (w *Writer) Close() error { return w.vw.Close() }
