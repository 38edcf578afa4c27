package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/oklog/ulid/v2"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hubclient"
	"github.com/fitmirror/fitmirror/internal/testexec"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildOnce.bin != "" {
		os.RemoveAll(filepath.Dir(buildOnce.bin))
	}
	os.Exit(code)
}

var buildOnce struct {
	sync.Once
	bin string
	err error
}

// binary builds mirror-cloud once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mirror-cloud-e2e")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.bin = filepath.Join(dir, "mirror-cloud")
		out, err := exec.Command("go", "build", "-o", buildOnce.bin, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = &buildError{err, out}
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.bin
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + string(e.out) }

// server is a running `mirror-cloud serve`.
type server struct {
	cmd        *exec.Cmd
	http, mqtt string
	console    string // the console's base URL
	logs       *bytes.Buffer
	mu         *sync.Mutex
}

func startServe(t *testing.T, stateDir string, sets ...string) *server {
	t.Helper()
	args := []string{"serve", "--set", "state_dir=" + stateDir, "--set", "listen=127.0.0.1:0",
		"--set", "mqtt.embedded.listen=127.0.0.1:0", "--set", "console.listen=127.0.0.1:0", "--set", "log.format=json"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	cmd := testexec.Command(binary(t), args...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	ready := make(chan struct{ http, mqtt, console string }, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			s.mu.Lock()
			s.logs.Write(append(line, '\n'))
			s.mu.Unlock()
			var v struct{ Msg, HTTP, MQTT, Console string }
			if json.Unmarshal(line, &v) == nil && v.Msg == "mirror-cloud listening" {
				ready <- struct{ http, mqtt, console string }{v.HTTP, v.MQTT, v.Console}
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			s.mu.Lock()
			t.Logf("mirror-cloud logs:\n%s", s.logs)
			s.mu.Unlock()
		}
	})
	select {
	case a := <-ready:
		s.http, s.mqtt, s.console = "http://"+a.http, a.mqtt, "http://"+a.console
	case <-time.After(30 * time.Second):
		t.Fatal("mirror-cloud serve did not start within 30 s")
	}
	return s
}

func addDevice(t *testing.T, stateDir, id string) hub.Credentials {
	t.Helper()
	out, err := testexec.Command(binary(t), "device", "add", id, "--set", "state_dir="+stateDir).Output()
	if err != nil {
		t.Fatalf("device add %s: %v", id, err)
	}
	var c hub.Credentials
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.DeviceID != id || len(c.Token) < 40 || len(c.MQTTPassword) < 40 {
		t.Fatalf("device add printed %s (%v)", out, err)
	}
	return c
}

// filePhotos opens photos from files named <id>.jpg.
type filePhotos string

func (d filePhotos) Open(id string) (io.ReadSeekCloser, error) {
	return os.Open(filepath.Join(string(d), id+".jpg"))
}

// The whole loop with real processes: the hub in sim mode with its embedded broker, a device
// subscribed over MQTT, the agent-side provider uploading a real JPEG and requesting a QR
// code, a simulated scan, the binding on MQTT, and the photo page serving the photo to that
// shopper only.
func TestEndToEndSimScan(t *testing.T) {
	state := t.TempDir()
	creds := addDevice(t, state, "m1")
	if out, err := testexec.Command(binary(t), "device", "add", "m1", "--set", "state_dir="+state).CombinedOutput(); err == nil || !strings.Contains(string(out), "already registered") {
		t.Errorf("second device add m1 = %s (%v), want an error", out, err)
	}
	srv := startServe(t, state)

	// The mirror's MQTT client.
	got := make(chan []byte, 4)
	o := paho.NewClientOptions().AddBroker("tcp://" + srv.mqtt).SetClientID("m1").SetUsername("m1").SetPassword(creds.MQTTPassword)
	mc := paho.NewClient(o)
	if tok := mc.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatalf("m1 connect: %v", tok.Error())
	}
	defer mc.Disconnect(0)
	if tok := mc.Subscribe("mirror/m1/binding", 1, func(_ paho.Client, m paho.Message) { got <- m.Payload() }); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	// The agent's provider uploads the photo and gets a QR code.
	photos := t.TempDir()
	photoID := ulid.Make().String()
	jpg, _ := os.ReadFile("../../testdata/face.jpg")
	os.WriteFile(filepath.Join(photos, photoID+".jpg"), jpg, 0o600)
	p, err := hubclient.New(hubclient.Options{BaseURL: srv.http, Token: creds.Token, Photos: filePhotos(photos)})
	if err != nil {
		t.Fatal(err)
	}
	qr, err := p.QR(t.Context(), session.Photo{ID: photoID, SessionID: "S1"}, 0)
	if err != nil {
		t.Fatalf("QR: %v", err)
	}
	if !strings.HasPrefix(qr.Content, "http://weixin.qq.com/q/") || time.Until(qr.ExpiresAt) < 4*time.Minute {
		t.Fatalf("QR = %+v, want a WeChat url valid ~5 min", qr)
	}

	// A shopper scans it (the simulator pushes a signed subscribe event to the hub).
	resp, err := http.Post(srv.http+"/sim/scan", "application/json", strings.NewReader(`{"qr":"`+qr.Content+`","openid":"o_e2e"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "/p/"+photoID) {
		t.Fatalf("POST /sim/scan = %d %s, want the news reply linking the photo page", resp.StatusCode, body)
	}
	var b wire.Binding
	select {
	case payload := <-got:
		if err := json.Unmarshal(payload, &b); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no binding on mirror/m1/binding within 10 s")
	}
	if b.PhotoID != photoID || b.Event != "subscribe" || b.Scene == "" || !regexp.MustCompile(`^[0-9A-Z]{26}$`).MatchString(b.BindingID) || strings.Contains(b.User, "o_e2e") {
		t.Errorf("binding = %+v", b)
	}

	// The photo page: through the simulator's OAuth as o_e2e, then the JPEG itself.
	jar, _ := cookiejar.New(nil)
	phone := &http.Client{Jar: jar}
	page := get(t, phone, srv.http+"/p/"+photoID+"?openid=o_e2e")
	if page.status != 200 || !strings.Contains(page.body, "raw=1") {
		t.Fatalf("photo page for o_e2e = %d %s", page.status, page.body)
	}
	raw := get(t, phone, srv.http+"/p/"+photoID+"?raw=1")
	if raw.status != 200 || raw.body != string(jpg) {
		t.Errorf("photo for o_e2e = %d, %d bytes; want face.jpg", raw.status, len(raw.body))
	}
	jar2, _ := cookiejar.New(nil)
	other := get(t, &http.Client{Jar: jar2}, srv.http+"/p/"+photoID+"?openid=o_other&raw=1")
	if other.status != 403 || other.body == string(jpg) {
		t.Errorf("photo page for another openid = %d, want 403", other.status)
	}

	// Health and metrics.
	if h := get(t, http.DefaultClient, srv.http+"/healthz"); h.status != 200 {
		t.Errorf("/healthz = %d", h.status)
	}
	if m := get(t, http.DefaultClient, srv.http+"/metrics"); !strings.Contains(m.body, `mirror_cloud_callbacks_total{result="bound"} 1`) {
		t.Errorf("/metrics lacks one bound callback")
	}

	// SIGTERM: a clean exit.
	srv.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- srv.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("mirror-cloud after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("mirror-cloud did not exit within 15 s of SIGTERM")
	}
}

type answer struct {
	status int
	body   string
}

func get(t *testing.T, c *http.Client, u string) answer {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b)}
}

func TestCommandLineErrors(t *testing.T) {
	state := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		args []string
		want string
		code int
	}{
		{[]string{"serve", "--set", "wechat.mode=wechat", "--set", "state_dir=" + state}, "wechat.appid: required in wechat mode", 1},
		{[]string{"serve", "--set", "wechat.mode=phone"}, "wechat.mode", 1},
		{[]string{"serve", "--set", "wechat.aes_key=short"}, "wechat.aes_key: EncodingAESKey must be 43 characters", 1},
		{[]string{"serve", "--set", "mqtt.url=http://x"}, "mqtt.url: scheme", 1},
		{[]string{"serve", "--set", "mqtt.failover=tcp://nats2:1883"}, "mqtt.failover: needs mqtt.url", 1},
		{[]string{"serve", "--set", "mqtt.url=tcp://nats1:1883", "--set", "mqtt.failover=nats2"}, "mqtt.failover: \"nats2\" is not a broker URL", 1},
		{[]string{"serve", "--set", "listen=" + busy.Addr().String(), "--set", "mqtt.embedded.listen=127.0.0.1:0", "--set", "state_dir=" + state}, "listen:", 1},
		{[]string{"device", "add", "Bad_ID", "--set", "state_dir=" + state}, `"Bad_ID" is not a device ID`, 1},
		{[]string{"device", "add"}, "exactly one device ID", 2},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`, 2},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd := testexec.CommandContext(ctx, binary(t), tt.args...)
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tt.code || !strings.Contains(string(out), tt.want) {
				t.Errorf("mirror-cloud %v = exit %d %q, want exit %d and %q", tt.args, code, out, tt.code, tt.want)
			}
		})
	}
}
