package config

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func TestKeys(t *testing.T) {
	d := defaults()
	want := []Key{
		{Name: "device.id", Type: "string", Default: `""`, Help: "device ID, also the MQTT username"},
		{Name: "state_dir", Type: "string", Default: "./state", Help: "photos and database"},
		{Name: "debug", Type: "bool", Default: "false", Help: "verbose logging"},
		{Name: "camera.source", Type: "string", Default: "auto", Help: "auto, a device index, a file or a URL"},
		{Name: "camera.fps", Type: "int", Default: "15", Help: "frames per second", Allowed: "1..60"},
		{Name: "camera.buffers", Type: "int", Default: "4", Allowed: "1.."},
		{Name: "camera.scale", Type: "float", Default: "1", Help: "resize factor", Allowed: "..100"},
		{Name: "camera.tags", Type: "[]string", Default: "[a, b]", Help: "labels | shown in the UI"},
		{Name: "camera.modes", Type: "[]string", Default: "[]", Allowed: "day|night"},
		{Name: "presence.enter_dwell", Type: "duration", Default: "2s", Help: "time standing still before a session starts", Allowed: "0s..30s"},
		{Name: "presence.exit_grace", Type: "duration", Default: "1.5s", Allowed: "0s.."},
		{Name: "cloud.provider", Type: "string", Default: "local", Allowed: "local|hub"},
		{Name: "cloud.hub_url", Type: "string", Default: `""`},
		{Name: "cloud.token", Type: "string", Default: `""`},
		{Name: "cloud.local.public_url", Type: "string", Default: `""`},
	}
	for _, v := range []any{d, &d} {
		if diff := cmp.Diff(want, Keys(v)); diff != "" {
			t.Errorf("Keys(%T) mismatch (-want +got):\n%s", v, diff)
		}
	}
	for _, v := range []any{nil, 5, (*sample)(nil)} {
		if got := Keys(v); got != nil {
			t.Errorf("Keys(%#v) = %v, want nil", v, got)
		}
	}
}

func TestKeysDefaults(t *testing.T) {
	type c struct {
		S []string      `yaml:"s"`
		Q string        `yaml:"q"`
		N string        `yaml:"n"`
		D time.Duration `yaml:"d"`
		H time.Duration `yaml:"h"`
		F float64       `yaml:"f"`
	}
	v := c{S: []string{"yes", "a b", ""}, Q: "true", N: "line\nbreak", D: 90 * time.Second, H: 2 * time.Hour, F: 0.25}
	var got []string
	for _, k := range Keys(v) {
		got = append(got, k.Default)
	}
	want := []string{`["yes", a b, ""]`, `"true"`, `"line\nbreak"`, "1m30s", "2h", "0.25"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Keys(%+v) defaults mismatch (-want +got):\n%s", v, diff)
	}
}

func TestMarkdown(t *testing.T) {
	want := "| key | type | default | allowed | description |\n" +
		"|-----|------|---------|---------|-------------|\n" +
		"| `device.id` | string | `\"\"` |  | device ID, also the MQTT username |\n" +
		"| `state_dir` | string | `./state` |  | photos and database |\n" +
		"| `debug` | bool | `false` |  | verbose logging |\n" +
		"| `camera.source` | string | `auto` |  | auto, a device index, a file or a URL |\n" +
		"| `camera.fps` | int | `15` | `1..60` | frames per second |\n" +
		"| `camera.buffers` | int | `4` | `1..` |  |\n" +
		"| `camera.scale` | float | `1` | `..100` | resize factor |\n" +
		"| `camera.tags` | []string | `[a, b]` |  | labels \\| shown in the UI |\n" +
		"| `camera.modes` | []string | `[]` | `day\\|night` |  |\n" +
		"| `presence.enter_dwell` | duration | `2s` | `0s..30s` | time standing still before a session starts |\n" +
		"| `presence.exit_grace` | duration | `1.5s` | `0s..` |  |\n" +
		"| `cloud.provider` | string | `local` | `local\\|hub` |  |\n" +
		"| `cloud.hub_url` | string | `\"\"` |  |  |\n" +
		"| `cloud.token` | string | `\"\"` |  |  |\n" +
		"| `cloud.local.public_url` | string | `\"\"` |  |  |\n"
	if diff := cmp.Diff(want, Markdown(defaults())); diff != "" {
		t.Errorf("Markdown(defaults()) mismatch (-want +got):\n%s", diff)
	}
}

func TestEffective(t *testing.T) {
	want := map[string]any{
		"device":    map[string]any{"id": ""},
		"state_dir": "./state",
		"debug":     false,
		"camera": map[string]any{
			"source": "auto", "fps": 15, "buffers": int64(4), "scale": 1.0,
			"tags": []string{"a", "b"}, "modes": []string{},
		},
		"presence": map[string]any{"enter_dwell": "2s", "exit_grace": "1.5s"},
		"cloud": map[string]any{
			"provider": "local", "hub_url": "", "token": "",
			"local": map[string]any{"public_url": ""},
		},
	}
	if diff := cmp.Diff(want, Effective(defaults())); diff != "" {
		t.Errorf("Effective(defaults()) mismatch (-want +got):\n%s", diff)
	}
	if got := Effective(nil); got != nil {
		t.Errorf("Effective(nil) = %v, want nil", got)
	}
}

func TestEffectiveRoundTrip(t *testing.T) {
	in := sample{
		Device:   deviceSection{ID: "mirror-1"},
		StateDir: "",
		Debug:    true,
		Camera: cameraSection{Source: "0", FPS: 60, Buffers: 1 << 40, Scale: -1e-7,
			Tags: []string{"yes", "null", "a: b", "#x", "", "[y]"}, Modes: []string{"day"}},
		Presence: presenceSection{EnterDwell: 30 * time.Second, ExitGrace: 90*time.Minute + time.Nanosecond},
		Cloud: cloudSection{Provider: "hub", HubURL: "https://hub.example", Token: "*tok&en!",
			Local: localSection{PublicURL: "http://10.0.0.2:8080/"}},
	}
	if err := Check(in); err != nil {
		t.Fatalf("Check(in) = %v", err)
	}
	out, err := yaml.Marshal(Effective(in))
	if err != nil {
		t.Fatal(err)
	}
	var got sample
	if err := Load(&got, writeFile(t, string(out)), nil); err != nil {
		t.Fatalf("Load(%q) = %v, want nil", out, err)
	}
	if diff := cmp.Diff(in, got, cmp.AllowUnexported(sample{})); diff != "" {
		t.Errorf("Load(yaml.Marshal(Effective(in))) mismatch (-want +got):\n%s\nYAML:\n%s", diff, out)
	}

	// JSON is a subset of YAML: the JSON report loads back too.
	js, err := json.Marshal(Effective(in))
	if err != nil {
		t.Fatal(err)
	}
	got = sample{}
	if err := Load(&got, writeFile(t, string(js)), nil); err != nil {
		t.Fatalf("Load(%s) = %v, want nil", js, err)
	}
	if diff := cmp.Diff(in, got, cmp.AllowUnexported(sample{})); diff != "" {
		t.Errorf("Load(json.Marshal(Effective(in))) mismatch (-want +got):\n%s", diff)
	}
}
