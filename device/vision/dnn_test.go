package vision

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A missing or corrupt model is one line naming the file, and the detector falls back to the
// cascade (OpenCV throws C++ exceptions for bad models, which would otherwise abort the agent).
func TestModelFallback(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "face.onnx")
	os.WriteFile(garbage, []byte("this is not a protobuf at all \x00\x01\x02"), 0o644)
	truncated := filepath.Join(dir, "truncated.onnx")
	if b, err := os.ReadFile(DefaultModel()); err == nil {
		os.WriteFile(truncated, b[:len(b)/3], 0o644)
	} else {
		t.Fatalf("the BlazeFace model is not installed (run scripts/setup.sh): %v", err)
	}
	tests := []struct {
		name, model, want string
	}{
		{"missing file", filepath.Join(dir, "nope.onnx"), "no such file"},
		{"a directory", dir, "is a directory"},
		{"not a model", garbage, "cannot be used as the BlazeFace detector"},
		{"a truncated model", truncated, "cannot be used as the BlazeFace detector"},
		{"a cascade is not a model", DefaultCascade, "cannot be used as the BlazeFace detector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDetector(DetectorOptions{Model: tt.model})
			if err != nil {
				t.Fatalf("NewDetector(model %s) = %v, want the cascade as a fallback", tt.model, err)
			}
			defer d.Close()
			if d.Kind() != KindHaar {
				t.Errorf("kind = %s, want haar", d.Kind())
			}
			fb := d.Fallback()
			if fb == nil {
				t.Fatalf("Fallback() = nil, want why")
			}
			if msg := fb.Error(); !strings.Contains(msg, tt.model) || !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("fallback = %q, want one line naming %s and saying %q", msg, tt.model, tt.want)
			}
		})
	}
	t.Run("default", func(t *testing.T) {
		d, err := NewDetector(DetectorOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if d.Kind() != KindBlazeFace || d.Fallback() != nil {
			t.Errorf("default detector = %s (fallback %v), want blazeface", d.Describe(), d.Fallback())
		}
	})
}
