package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cmd/internal/config"
)

// mirror-agent config prints the configuration with its secrets redacted.
func TestConfigCommandRedactsSecrets(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"config", "--set", "mqtt.password=hunter2-mqtt", "--set", "cloud.token=tok-s3cret-123"}, &out, &errOut)
	if err != nil {
		t.Fatalf("config: %v %s", err, errOut.String())
	}
	for _, secret := range []string{"hunter2-mqtt", "tok-s3cret-123"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("mirror-agent config prints the secret %q:\n%s", secret, out.String())
		}
	}
	if strings.Count(out.String(), config.Redacted) != 2 {
		t.Errorf("want both secrets redacted:\n%s", out.String())
	}
}

// cloud.hub_url over http:// is refused except to loopback: the bearer token would cross the
// network in clear.
func TestHubURLOverHTTPOnlyToLoopback(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://hub.example.com": true, "http://127.0.0.1:8090": true, "http://localhost:8090": true, "http://[::1]:8090": true,
		"http://hub.example.com": false, "http://192.168.1.20:8090": false, "http://127.0.0.1.nip.io": false, "ftp://hub": false,
	} {
		c := defaultConfig()
		err := config.Load(&c, "", []string{"cloud.provider=hub", "cloud.hub_url=" + url, "cloud.token=t", "mqtt.url=tcp://127.0.0.1:1883"})
		if (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "cloud.hub_url")) {
			t.Errorf("cloud.hub_url=%s: %v, want accepted %v", url, err, ok)
		}
	}
}

// The fleet's desired configuration cannot change file paths, and the refusal is the same
// whether the file exists or not.
func TestLiveConfigRefusesFilePaths(t *testing.T) {
	cfg := defaultConfig()
	l := newLive(&cfg, nil, nil)
	var msgs []string
	for _, set := range []string{"presence.cascade=/etc/shadow", "presence.cascade=/nonexistent/x.xml",
		"presence.model=/etc/passwd", "presence.model=/nonexistent/m.onnx"} {
		_, err := l.applySets(context.Background(), []string{set})
		if err == nil {
			t.Fatalf("%s accepted over the fleet", set)
		}
		msgs = append(msgs, err.Error())
	}
	if msgs[0] != msgs[1] || msgs[2] != msgs[3] {
		t.Errorf("errors tell existing from missing files: %q", msgs)
	}
	for _, m := range msgs {
		if strings.Contains(m, "/etc") || strings.Contains(m, "nonexistent") {
			t.Errorf("error quotes the path: %q", m)
		}
	}
	if cur := l.current(); cur.Presence.Cascade != cfg.Presence.Cascade || cur.Presence.Model != cfg.Presence.Model {
		t.Errorf("paths changed: %q %q", cur.Presence.Cascade, cur.Presence.Model)
	}
}

// The agent's listeners as a shopper's phone and an attacker on the store network see them:
// the kiosk answers only to loopback names (DNS rebinding), the photo page carries its
// headers, and a flood of idle connections from one address is cut to the per-client cap.
func TestAgentListenersHardened(t *testing.T) {
	_, clip, _ := setup(t)
	p := startAgentInProcess(t, hooks{}, "camera.source="+clip)
	for host, want := range map[string]int{"evil.example:8080": http.StatusMisdirectedRequest, "127.0.0.1": 0} {
		req, _ := http.NewRequest("GET", p.kioskURL+"/healthz", nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if (want != 0 && res.StatusCode != want) || (want == 0 && res.StatusCode == http.StatusMisdirectedRequest) {
			t.Errorf("kiosk with Host %q = %d", host, res.StatusCode)
		}
	}
	var photoAddr string
	for _, line := range strings.Split(p.log(), "\n") {
		var rec struct{ Msg, Listen string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "photo page ready" {
			photoAddr = rec.Listen
		}
	}
	if photoAddr == "" {
		t.Fatalf("no photo page listener in the log:\n%s", p.log())
	}
	res, err := http.Get("http://" + photoAddr + "/p/nosuch?k=x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("photo page headers: %v", res.Header)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 300; i++ {
		c, err := net.Dial("tcp", photoAddr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	open := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			open++
		}
	}
	if open > photoConnsPerClient {
		t.Errorf("%d idle connections from one address held by the photo page, want at most %d", open, photoConnsPerClient)
	}
}
