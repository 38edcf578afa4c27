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

// TestModelPaths: the lookup tries the .deb's copy first, then an install beside the
// executable, then models/ in the executable's tree and in the module root of the source tree,
// and never the working directory.
func TestModelPaths(t *testing.T) {
	root := t.TempDir()
	exe := filepath.Join(root, "opt", "bin", "mirror-agent")
	mod := filepath.Join(root, "src")
	src := filepath.Join(mod, "device", "vision", "blazeface.go")
	os.MkdirAll(filepath.Dir(src), 0o755)
	os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module x\n"), 0o644)
	cwd := filepath.Join(root, "elsewhere")
	os.MkdirAll(filepath.Join(cwd, "models", "blazeface"), 0o755)
	t.Chdir(cwd)
	got := modelPaths(exe, src)
	m := func(dir string) string { return filepath.Join(dir, "models", "blazeface", ModelFile) }
	want := []string{
		filepath.Join(debModelDir, ModelFile),
		filepath.Join(root, "opt", "share", "fitmirror", "models", "blazeface", ModelFile),
		m(filepath.Join(root, "opt", "bin")), m(filepath.Join(root, "opt")), m(root),
	}
	if len(got) < len(want) {
		t.Fatalf("modelPaths = %q, want it to start with %q", got, want)
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("modelPaths[%d] = %s, want %s", i, got[i], w)
		}
	}
	if last := got[len(got)-1]; last != m(mod) {
		t.Errorf("last path %s, want the module root's %s", last, m(mod))
	}
	for _, p := range got {
		if strings.HasPrefix(p, cwd) {
			t.Errorf("modelPaths tries %s in the working directory", p)
		}
	}
	if !strings.HasSuffix(DefaultModel(), filepath.Join("models", "blazeface", ModelFile)) {
		t.Errorf("DefaultModel() = %q from %s, want the repository's model", DefaultModel(), cwd)
	}
	err := errNoModel(got)
	for _, p := range got {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("the not-found error %q does not name %s", err, p)
		}
	}
}
