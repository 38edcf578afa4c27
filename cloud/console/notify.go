package console

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// channel is where notices go: the webhook or the e-mail.
type channel interface {
	name() string
	// deliver tries once.
	deliver(ctx context.Context, n notice) error
}

// webhook POSTs notices to alerts.webhook_url in alerts.format.
type webhook struct {
	o   *AlertOptions
	now func() time.Time
}

func (w *webhook) name() string { return "webhook" }

// body is the notice in the configured format.
func (w *webhook) body(n notice) []byte {
	var v any
	switch w.o.Format {
	case FormatWeCom, FormatDingTalk:
		v = map[string]any{"msgtype": "text", "text": map[string]string{"content": n.Text}}
	default:
		m := n.Mirror
		v = map[string]any{"event": n.event(), "mirror": m.ID, "state": m.State, "reason": n.Reason, "store": m.Store,
			"camera_lost": m.CameraLost(), "since": n.Since, "at": n.At, "text": n.Text}
	}
	b, _ := json.Marshal(v)
	return b
}

// target is the URL to POST to: with a DingTalk signing secret, the webhook URL with
// timestamp (ms) and sign = urlencode(base64(HMAC-SHA256(secret, timestamp+"\n"+secret))).
func (w *webhook) target() string {
	if w.o.DingTalkSecret == "" {
		return w.o.WebhookURL
	}
	ts := strconv.FormatInt(w.now().UnixMilli(), 10)
	sep := "&"
	if u, err := url.Parse(w.o.WebhookURL); err == nil && u.RawQuery == "" {
		sep = "?"
		if u.ForceQuery {
			sep = ""
		}
	}
	return w.o.WebhookURL + sep + "timestamp=" + ts + "&sign=" + url.QueryEscape(DingTalkSign(w.o.DingTalkSecret, ts))
}

// DingTalkSign is a DingTalk robot's signature of a request made at timestamp (Unix ms, as
// text): base64(HMAC-SHA256(secret, timestamp+"\n"+secret)), before URL encoding.
func DingTalkSign(secret, timestamp string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (w *webhook) deliver(ctx context.Context, n notice) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.target(), bytes.NewReader(w.body(n)))
	if err != nil {
		return fmt.Errorf("webhook: %w", redactErr(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", redactErr(err))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: %s", resp.Status)
	}
	if w.o.Format != FormatJSON {
		var r struct {
			ErrCode int    `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}
		if json.Unmarshal(b, &r) == nil && r.ErrCode != 0 {
			return fmt.Errorf("webhook: errcode %d: %s", r.ErrCode, truncate(r.ErrMsg, 200))
		}
	}
	return nil
}

// redactErr drops the URL (whose query carries the robot's key) from a client error.
func redactErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
