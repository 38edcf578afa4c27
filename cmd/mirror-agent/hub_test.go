package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/testexec"
)

var (
	cloudOnce sync.Once
	cloudBin  string
	cloudErr  error
)

// hubProc is a running `mirror-cloud serve` in sim mode with its embedded broker.
type hubProc struct {
	http, mqtt string
	token      string
	mqttPass   string
	console    string // the fleet console's base URL
	state      string
}

// startHub runs mirror-cloud serve with the extra --set keys sets.
func startHub(t testing.TB, sets ...string) *hubProc {
	t.Helper()
	cloudOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mirror-cloud-bin-")
		if err != nil {
			cloudErr = err
			return
		}
		cloudBin = filepath.Join(dir, "mirror-cloud")
		if out, err := exec.Command("go", "build", "-o", cloudBin, "../mirror-cloud").CombinedOutput(); err != nil {
			cloudErr = fmt.Errorf("go build mirror-cloud: %v\n%s", err, out)
		}
	})
	if cloudErr != nil {
		t.Fatal(cloudErr)
	}
	state := t.TempDir()
	out, err := testexec.Command(cloudBin, "device", "add", "m1", "--set", "state_dir="+state).Output()
	if err != nil {
		t.Fatalf("mirror-cloud device add: %v", err)
	}
	var creds struct {
		Token        string `json:"token"`
		MQTTPassword string `json:"mqtt_password"`
	}
	if err := json.Unmarshal(out, &creds); err != nil {
		t.Fatalf("device add printed %s", out)
	}
	args := []string{"serve", "--set", "state_dir=" + state, "--set", "listen=127.0.0.1:0",
		"--set", "mqtt.embedded.listen=127.0.0.1:0", "--set", "console.listen=127.0.0.1:0", "--set", "log.format=json"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	cmd := testexec.Command(cloudBin, args...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan [3]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var v struct{ Msg, HTTP, MQTT, Console string }
			if json.Unmarshal(sc.Bytes(), &v) == nil && v.Msg == "mirror-cloud listening" {
				ready <- [3]string{v.HTTP, v.MQTT, v.Console}
			}
		}
	}()
	select {
	case a := <-ready:
		return &hubProc{http: "http://" + a[0], mqtt: "tcp://" + a[1], console: "http://" + a[2], state: state, token: creds.Token, mqttPass: creds.MQTTPassword}
	case <-time.After(30 * time.Second):
		t.Fatal("mirror-cloud serve did not start")
		return nil
	}
}

func (h *hubProc) agentArgs(clip string) []string {
	return []string{"--set", "camera.source=" + clip, "--set", "device.id=m1", "--set", "cloud.provider=hub",
		"--set", "cloud.hub_url=" + h.http, "--set", "cloud.token=" + h.token,
		"--set", "mqtt.url=" + h.mqtt, "--set", "mqtt.password=" + h.mqttPass}
}

func (h *hubProc) scan(t testing.TB, qr, openid string) {
	t.Helper()
	res, err := http.Post(h.http+"/sim/scan", "application/json",
		strings.NewReader(fmt.Sprintf(`{"qr":%q,"openid":%q}`, qr, openid)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("POST /sim/scan = %d %s", res.StatusCode, body)
	}
}

// TestHubEndToEnd is the WeChat loop with real processes: the agent on the demo clip with
// the hub provider, mirror-cloud in sim mode with its embedded broker. The QR on the kiosk
// is a WeChat URL; a simulated scan turns the screen to "bound", and the hub's photo page
// serves the photo to that shopper (and not to another).
func TestHubEndToEnd(t *testing.T) {
	needsRealTime(t)
	_, clip, _ := setup(t)
	h := startHub(t)
	p := startAgent(t, h.agentArgs(clip)...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var photoID string
	for s := range sse(ctx, t, p.kioskURL) {
		if s.Scene == display.SceneQR && photoID == "" {
			if !strings.HasPrefix(s.QR.Content, "http://weixin.qq.com/q/") {
				t.Fatalf("qr.content = %q, want a WeChat QR url", s.QR.Content)
			}
			if got := decodeQR(t, p.kioskURL, s.QR.Content); got != s.QR.Content {
				t.Fatalf("QR image decodes to %q, want %q", got, s.QR.Content)
			}
			photoID = s.PhotoID
			h.scan(t, s.QR.Content, "o_shopper")
		}
		if s.Scene == display.SceneBound {
			if s.PhotoID != photoID {
				t.Fatalf("bound screen for %s, want %s", s.PhotoID, photoID)
			}
			break
		}
	}
	if photoID == "" {
		t.Fatal("no QR shown")
	}
	// The photo page, as the shopper's WeChat browser (the simulator plays OAuth).
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	res, err := c.Get(h.http + "/p/" + photoID + "?openid=o_shopper")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = c.Get(h.http + "/p/" + photoID + "?raw=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if _, err := jpeg.Decode(bytes.NewReader(body)); res.StatusCode != 200 || err != nil {
		t.Fatalf("photo page for the shopper = %d (%v), want the JPEG", res.StatusCode, err)
	}
	res, err = http.Get(h.http + "/p/" + photoID + "?openid=o_someone_else")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("photo page for another openid = %d, want 403", res.StatusCode)
	}
}

// BenchmarkScanToScreen measures scan → agent screen on loopback: from the simulated scan
// (POST /sim/scan: signed push → hub callback → dedupe → MQTT binding) to the "bound" screen
// on the kiosk's event stream. Each iteration takes a new photo with a tap (countdown and
// review off), scans its QR and waits for "bound". Reports p50/p95 in ms.
func BenchmarkScanToScreen(b *testing.B) {
	_, clip, _ := setup(b)
	h := startHub(b)
	p := startAgent(b, append(h.agentArgs(clip), "--set", "camera.loop=true", "--set", "session.countdown=0",
		"--set", "session.review=0s", "--set", "session.auto_capture=false")...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	screens := sse(ctx, b, p.kioskURL)
	// next waits for one of the scenes.
	next := func(scenes ...string) display.Screen {
		deadline := time.After(40 * time.Second)
		for {
			select {
			case s := <-screens:
				for _, want := range scenes {
					if s.Scene == want {
						return s
					}
				}
			case <-deadline:
				b.Fatalf("no %v screen", scenes)
			}
		}
	}
	tap := func() {
		res, err := http.Post(p.kioskURL+"/api/trigger", "application/json", strings.NewReader(`{"action":"photo"}`))
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
	}
	// photo taps until a QR shows; the demo clip's shopper leaves every 20 s, so a tap may land
	// between visits: then wait for the next welcome and tap again.
	photo := func() display.Screen {
		for {
			tap()
			s := next(display.SceneQR, display.SceneGoodbye, display.SceneIdle)
			if s.Scene == display.SceneQR {
				return s
			}
			next(display.SceneWelcome)
		}
	}
	next(display.SceneWelcome)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		qr := photo()
		b.StartTimer()
		start := time.Now()
		h.scan(b, qr.QR.Content, fmt.Sprintf("o_bench_%d", i))
		if s := next(display.SceneBound, display.SceneGoodbye); s.Scene != display.SceneBound {
			b.StopTimer()
			i-- // the shopper left between the QR and the scan: not a sample
			next(display.SceneWelcome)
			continue
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)-1)*95/100].Microseconds())/1000, "p95-ms")
}

// TestCheckHub: mirror-agent check accepts a good hub token and names a bad one.
func TestCheckHub(t *testing.T) {
	_, clip, _ := setup(t)
	h := startHub(t)
	base := append([]string{"check", "--set", "state_dir=" + t.TempDir(), "--set", "display.listen=127.0.0.1:0",
		"--set", "mqtt.url=tcp://127.0.0.1:1", "--set", "mqtt.password=x"}, h.agentArgs(clip)...)
	out, _, _ := runAgentCmd(t, base...)
	if !strings.Contains(out, "ok    hub ") || !strings.Contains(out, "token accepted") {
		t.Errorf("check with the right token:\n%s", out)
	}
	out, _, code := runAgentCmd(t, append(base, "--set", "cloud.token=wrong")...)
	if code != 1 || !strings.Contains(out, "FAIL  hub ") || !strings.Contains(out, "refused cloud.token") {
		t.Errorf("check with a wrong token: exit %d\n%s", code, out)
	}
}
