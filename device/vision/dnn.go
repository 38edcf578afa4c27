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
	"os"
	"strings"
	"unsafe"

	"gocv.io/x/gocv"
)

// dnnNet is an OpenCV dnn face detector (SSD-style output [1,1,N,7]).
type dnnNet struct {
	net  gocv.Net
	blob gocv.Mat
}

// loadNet checks and loads a model: a missing or unreadable file, a file that is not a model,
// or a model that is not a face detector is an error naming it — never a process abort.
func loadNet(model, config string) (*dnnNet, error) {
	for _, p := range []string{model, config} {
		if p == "" {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("vision: model %s: %w", p, unwrapPathErr(err))
		}
		fi, err := f.Stat()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("vision: model %s: %w", p, err)
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("vision: model %s: is a directory, want a model file", p)
		}
	}
	if strings.HasSuffix(model, ".caffemodel") && config == "" {
		return nil, fmt.Errorf("vision: model %s: a Caffe model needs its .prototxt (presence.model_config)", model)
	}
	cm, cc := C.CString(model), C.CString(config)
	defer C.free(unsafe.Pointer(cm))
	defer C.free(unsafe.Pointer(cc))
	var buf [512]C.char
	if C.fm_check_net(cm, cc, &buf[0], C.int(len(buf))) != 0 {
		msg := strings.Join(strings.Fields(C.GoString(&buf[0])), " ")
		return nil, fmt.Errorf("vision: model %s: cannot be used as a face detector: %s", model, msg)
	}
	net := gocv.ReadNet(model, config)
	if net.Empty() {
		net.Close()
		return nil, fmt.Errorf("vision: model %s: cannot be loaded", model)
	}
	return &dnnNet{net: net, blob: gocv.NewMat()}, nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// detect returns faces in img's pixels with a score of at least conf.
func (n *dnnNet) detect(img gocv.Mat, conf float64) []image.Rectangle {
	n.blob.Close()
	n.blob = gocv.BlobFromImage(img, 1.0, image.Pt(300, 300), gocv.NewScalar(104, 177, 123, 0), false, false)
	n.net.SetInput(n.blob, "")
	out := n.net.Forward("")
	defer out.Close()
	data, err := out.DataPtrFloat32()
	if err != nil {
		return nil
	}
	w, h := float64(img.Cols()), float64(img.Rows())
	var faces []image.Rectangle
	for i := 0; i+7 <= len(data); i += 7 {
		if float64(data[i+2]) < conf {
			continue
		}
		r := image.Rect(int(float64(data[i+3])*w), int(float64(data[i+4])*h), int(float64(data[i+5])*w), int(float64(data[i+6])*h))
		r = r.Intersect(image.Rect(0, 0, int(w), int(h)))
		if !r.Empty() {
			faces = append(faces, r)
		}
	}
	return faces
}

func (n *dnnNet) Close() error {
	n.blob.Close()
	return n.net.Close()
}
