package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
)

// checkEnv is a wechat-mode configuration against the fake WeChat, with public_url
// http://hub.example (port 80) reaching the hub's listener on loopback.
func checkEnv(t *testing.T, sets ...string) (*wechattest.Server, func() (string, error)) {
	t.Helper()
	fake := wechattest.New("wxcheck", "s3cret")
	api := fake.Start()
	t.Cleanup(api.Close)
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	listen := free()
	base := []string{"wechat.mode=wechat", "wechat.appid=wxcheck", "wechat.secret=s3cret", "wechat.token=cbtoken",
		"wechat.aes_key=jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wechat.api_base=" + api.URL,
		"wechat.mp_verify=MP_verify_Ab12.txt", "public_url=http://hub.example", "listen=" + listen,
		"mqtt.embedded.listen=" + free(), "state_dir=" + t.TempDir()}
	var errOut bytes.Buffer
	cfg, _, err := load("", append(base, sets...), &errOut)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	// The phone's and WeChat's way to public_url: here, straight to the listener.
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", cfg.Listen)
	}}}
	return fake, func() (string, error) {
		var out bytes.Buffer
		err := check(t.Context(), cfg, &out, checkOptions{HTTPClient: client})
		return out.String(), err
	}
}

// check tries every credential and URL and says what to do in one line per part; the
// account-type truth (48001) is always stated.
func TestCheck(t *testing.T) {
	_, run := checkEnv(t)
	out, err := run()
	if err != nil {
		t.Fatalf("check of a good configuration: %v\n%s", err, out)
	}
	t.Logf("check:\n%s", out)
	for _, want := range []string{"note  account    parametric QR codes (qrcode/create) and web OAuth need a verified service account",
		"ok    public_url", "ok    token", "ok    qrcode", "ok    callback", "ok    oauth", "ok    mqtt", "ok    database"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	tests := []struct {
		name string
		sets []string
		fail func(*wechattest.Server)
		want []string // in the FAIL line
	}{
		{"bad secret", []string{"wechat.secret=wrong"}, nil, []string{"FAIL  token", "40125", "wechat.secret"}},
		{"bad appid", []string{"wechat.appid=wxother"}, nil, []string{"FAIL  token", "40013", "wechat.appid"}},
		{"IP not whitelisted", nil, func(f *wechattest.Server) { f.FailNext("stable_token", 40164, 1) }, []string{"FAIL  token", "40164", "IP白名单"}},
		{"not a verified service account", nil, func(f *wechattest.Server) { f.FailNext("qrcode/create", 48001, 1) }, []string{"FAIL  qrcode", "48001", "verified service account"}},
		{"WeChat unreachable", []string{"wechat.api_base=http://127.0.0.1:1"}, nil, []string{"FAIL  token", "unreachable"}},
		{"public_url on another port", []string{"public_url=https://hub.example:8443"}, nil, []string{"FAIL  public_url", "port 80 (http) or 443 (https)"}},
		{"external broker down", []string{"mqtt.url=tcp://127.0.0.1:1"}, nil, []string{"FAIL  mqtt", "mqtt.password"}},
		{"image upload refused", []string{"wechat.reply=image"}, func(f *wechattest.Server) { f.FailNext("media/upload", 48001, 1) }, []string{"FAIL  media", "48001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, run := checkEnv(t, tt.sets...)
			if tt.fail != nil {
				tt.fail(fake)
			}
			out, err := run()
			if err == nil {
				t.Fatalf("check passed:\n%s", out)
			}
			var failLine string
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, tt.want[0]) {
					failLine = l
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(failLine, w) {
					t.Errorf("FAIL line %q lacks %q; output:\n%s", failLine, w, out)
				}
			}
		})
	}
}
