package vision

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// No face model ships with Debian and none can be fetched here, so these tests cover the
// operator's mistakes: each is one clear error naming the file, and the process survives
// (OpenCV throws C++ exceptions for bad models, which would otherwise abort the agent).
func TestModelErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "face.onnx")
	os.WriteFile(garbage, []byte("this is not a protobuf at all \x00\x01\x02"), 0o644)
	caffe := filepath.Join(dir, "res10.caffemodel")
	os.WriteFile(caffe, []byte("garbage"), 0o644)
	proto := filepath.Join(dir, "deploy.prototxt")
	os.WriteFile(proto, []byte("name: \"broken\"\nlayer { name: \"data\" type: \"Input\" top: \"data\" input_param { shape { dim: 1 dim: 3 dim: 300 dim: 300 } } }\nlayer { bogus"), 0o644)
	// A well-formed network that is not a face detector: global max pooling, output [1,3,1,1].
	pool := filepath.Join(dir, "pool.prototxt")
	os.WriteFile(pool, []byte(`name: "pool"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 300 dim: 300 } } }
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" pooling_param { pool: MAX global_pooling: true } }
`), 0o644)
	tests := []struct {
		name, model, config, want string
	}{
		{"a network that is not a face detector", pool, "", "not a face detector's [1,1,N,7]"},
		{"missing file", filepath.Join(dir, "nope.onnx"), "", "no such file"},
		{"a directory", dir, "", "is a directory"},
		{"not a model", garbage, "", "cannot be used as a face detector"},
		{"caffe model without its prototxt", caffe, "", "needs its .prototxt"},
		{"caffe model with a broken prototxt", caffe, proto, "cannot be used as a face detector"},
		{"a cascade is not a dnn model", DefaultCascade, "", "cannot be used as a face detector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDetector(DetectorOptions{Model: tt.model, ModelConfig: tt.config})
			if err == nil {
				d.Close()
				t.Fatalf("NewDetector(model %s) = nil error", tt.model)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.model) || !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("NewDetector(model %s) = %q, want one line naming it and saying %q", tt.model, msg, tt.want)
			}
		})
	}
}
