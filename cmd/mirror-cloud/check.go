package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/internal/httpguard"
)

// accountNote is the deployment truth check states in one line.
const accountNote = "parametric QR codes (qrcode/create) and web OAuth need a verified service account (认证服务号); any other account gets errcode 48001"

// checkOptions are the parts a test replaces.
type checkOptions struct {
	// HTTPClient reaches public_url (the hub as WeChat and phones see it); nil = a client
	// with a 10 s timeout.
	HTTPClient *http.Client
}

// check tries every credential and URL of the configuration and prints one line each, with
// what to do on failure; it returns an error (exit 1) unless all of them work. Run it before
// the shops open, with the service stopped or running.
func check(ctx context.Context, cfg *Config, w io.Writer, o checkOptions) error {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	failed := 0
	line := func(part string, err error, ok, hint string) {
		if err != nil {
			failed++
			msg := strings.ReplaceAll(wechat.Explain(err), "\n", " ")
			if hint != "" {
				msg += " — " + hint
			}
			fmt.Fprintf(w, "FAIL  %-10s %s\n", part, msg)
			return
		}
		fmt.Fprintf(w, "ok    %-10s %s\n", part, ok)
	}
	fmt.Fprintf(w, "note  %-10s %s\n", "account", accountNote)
	wc := cfg.WeChat

	// public_url: WeChat calls the callback only on port 80 (http) or 443 (https), and phones
	// open the photo page there.
	func() {
		u, err := url.Parse(cfg.PublicURL)
		if cfg.PublicURL == "" {
			if wc.Mode == "sim" {
				fmt.Fprintf(w, "ok    %-10s sim mode: the hub's own listener\n", "public_url")
				return
			}
			err = errors.New("empty")
		}
		if err != nil {
			line("public_url", err, "", "set public_url to https://<your host>")
			return
		}
		if p := u.Port(); (u.Scheme == "https" && p != "" && p != "443") || (u.Scheme == "http" && p != "" && p != "80") {
			line("public_url", fmt.Errorf("%s is on port %s", cfg.PublicURL, p), "", "WeChat pushes only to port 80 (http) or 443 (https): put a reverse proxy in front of listen "+cfg.Listen)
			return
		}
		if err := probePublic(ctx, cfg, o.HTTPClient); err != nil {
			line("public_url", err, "", "the callback "+strings.TrimSuffix(cfg.PublicURL, "/")+"/wechat/callback must reach this hub from the internet (DNS, reverse proxy, firewall)")
			return
		}
		scheme := "https"
		if u.Scheme == "http" {
			scheme = "http (use https in production)"
		}
		line("public_url", nil, fmt.Sprintf("%s reaches this hub's listener; %s", cfg.PublicURL, scheme), "")
	}()

	if wc.Mode == "sim" {
		fmt.Fprintf(w, "ok    %-10s sim mode: the built-in simulator, no Official Account to check\n", "wechat")
	} else {
		client, err := wechat.NewClient(wechat.Options{BaseURL: wc.APIBase, AppID: wc.AppID, Secret: wc.Secret, HTTPClient: &http.Client{Timeout: 10 * time.Second}})
		if err != nil {
			line("token", err, "", "check wechat.appid, wechat.secret and wechat.api_base")
		} else {
			checkWeChat(ctx, cfg, client, line)
		}
	}

	// Callback settings: the Token and EncodingAESKey must be the ones in the console.
	switch {
	case wc.Mode == "sim":
	case wc.AESKey != "":
		line("callback", nil, "safe mode (EncodingAESKey set): only sealed pushes are accepted; set 安全模式 or 兼容模式 in the console with this key", "")
	default:
		fmt.Fprintf(w, "warn  %-10s plain mode (明文模式): pushes are not encrypted; set wechat.aes_key and choose 安全模式 in the console\n", "callback")
	}
	if wc.Mode != "sim" {
		if mp, _ := hub.ParseMPVerify(wc.MPVerify); len(mp) == 0 {
			fmt.Fprintf(w, "warn  %-10s no wechat.mp_verify: the console verifies the OAuth domain (网页授权域名) with an MP_verify_*.txt file; set it to that file's name\n", "oauth")
		} else if u, err := url.Parse(cfg.PublicURL); err == nil {
			line("oauth", nil, fmt.Sprintf("serves MP_verify_%s.txt; the OAuth domain must be %s", mp[0], u.Host), "")
		}
	}

	// MQTT: the external broker with the hub's account, or the embedded broker's port.
	if cfg.MQTT.URL != "" {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		p, err := hub.DialMQTT(dctx, hub.MQTTOptions{URL: cfg.MQTT.URL, ClientID: "mirror-cloud-check", Username: cfg.MQTT.Username, Password: cfg.MQTT.Password})
		cancel()
		if err != nil {
			line("mqtt", err, "", "check mqtt.url, mqtt.username and mqtt.password (the shipped ACL's hub account is _hub)")
		} else {
			p.Close()
			line("mqtt", nil, fmt.Sprintf("%s as %s", cfg.MQTT.URL, cfg.MQTT.Username), "")
		}
	} else if ln, err := net.Listen("tcp", cfg.MQTT.Embedded.Listen); err != nil {
		fmt.Fprintf(w, "warn  %-10s embedded broker port %s is taken (is mirror-cloud running?): %v\n", "mqtt", cfg.MQTT.Embedded.Listen, err)
	} else {
		ln.Close()
		line("mqtt", nil, "embedded broker on "+cfg.MQTT.Embedded.Listen+"; mirrors must reach it (open the port)", "")
	}

	// The database, last: check never changes it.
	func() {
		st, err := openStore(ctx, cfg)
		if err != nil {
			line("database", err, "", "check database.url or state_dir")
			return
		}
		defer st.Close()
		line("database", nil, st.where, "")
	}()

	if failed > 0 {
		return fmt.Errorf("check: %d part(s) failed", failed)
	}
	return nil
}

// checkWeChat tries the credentials (a stable token), a parametric QR code (48001 unless a
// verified service account) and, with reply: image, an image upload.
func checkWeChat(ctx context.Context, cfg *Config, client *wechat.Client, line func(string, error, string, string)) {
	if _, err := client.Token(ctx); err != nil {
		line("token", err, "", tokenHint(err))
		return
	}
	line("token", nil, "appid "+cfg.WeChat.AppID+": AppSecret accepted, this server's IP is whitelisted", "")
	scene := "check-" + randHex(8)
	if _, err := client.CreateQR(ctx, scene, time.Minute); err != nil {
		line("qrcode", err, "", "")
	} else {
		line("qrcode", nil, "a QR_STR_SCENE code was created (the account may make parametric QR codes)", "")
	}
	if cfg.WeChat.Reply == hub.ReplyImage {
		var buf bytes.Buffer
		jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil)
		if _, err := client.UploadImage(ctx, "check.jpg", buf.Bytes()); err != nil {
			line("media", err, "", "reply: image needs media/upload; use reply: news otherwise")
		} else {
			line("media", nil, "media/upload works (reply: image)", "")
		}
	}
}

func tokenHint(err error) string {
	var ue *wechat.UnreachableError
	if errors.As(err, &ue) {
		return "api.weixin.qq.com unreachable from this server (DNS, firewall, proxy): check wechat.api_base"
	}
	return ""
}

// probePublic checks that public_url reaches this hub: with the service stopped, a temporary
// listener on listen answers a random probe; with the service running, /healthz answers.
func probePublic(ctx context.Context, cfg *Config, client *http.Client) error {
	probe := randHex(16)
	ln, lerr := net.Listen("tcp", cfg.Listen)
	if lerr == nil {
		srv := httpguard.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Mirror-Cloud-Probe", probe)
			io.WriteString(w, `{"ok":true}`)
		}), false)
		go srv.Serve(ln)
		defer srv.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.PublicURL, "/")+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", req.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", req.URL, resp.Status)
	}
	if lerr == nil && resp.Header.Get("X-Mirror-Cloud-Probe") != probe {
		return fmt.Errorf("GET %s answered, but not from this hub's listener %s", req.URL, cfg.Listen)
	}
	return nil
}
