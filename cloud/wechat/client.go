package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/fitmirror/fitmirror/internal/backoff"
)

// DefaultBaseURL is the Official Account API host.
const DefaultBaseURL = "https://api.weixin.qq.com"

// Options configure a Client. AppID and Secret are required.
type Options struct {
	BaseURL    string           // API base; "" = DefaultBaseURL. Tests point it at wechattest.
	AppID      string           // the Official Account's appid
	Secret     string           // its AppSecret; it never leaves the hub
	HTTPClient *http.Client     // nil = a client with a 10 s timeout
	Now        func() time.Time // nil = time.Now
	// RefreshAhead is how long before expiry a cached token is refreshed; 0 = 2 minutes.
	RefreshAhead time.Duration
	// OnCall, when set, is told every API call with the token (op such as "qrcode/create"),
	// how long it took including retries, and its error (nil, *Error or a transport error):
	// the hub's metrics of WeChat latency and errcodes.
	OnCall func(op string, d time.Duration, err error)
}

// Client calls the Official Account API. It is safe for concurrent use: the access token is
// shared, fetched by one caller at a time, and refreshed ahead of its expiry.
type Client struct {
	opts Options
	base string

	flight singleflight.Group
	mu     sync.Mutex
	token  string
	expiry time.Time
}

// NewClient checks the options and returns a client. It does not contact WeChat.
func NewClient(opts Options) (*Client, error) {
	if opts.AppID == "" || opts.Secret == "" {
		return nil, errors.New("wechat: appid and secret are required")
	}
	if opts.BaseURL == "" {
		opts.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("wechat: api base %q is not an http(s) URL", opts.BaseURL)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RefreshAhead <= 0 {
		opts.RefreshAhead = 2 * time.Minute
	}
	return &Client{opts: opts, base: strings.TrimSuffix(opts.BaseURL, "/")}, nil
}

// Token returns a valid access token, fetching a stable token when there is none or the
// cached one expires within RefreshAhead. Concurrent callers share one fetch.
func (c *Client) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	tok, exp := c.token, c.expiry
	c.mu.Unlock()
	if tok != "" && c.opts.Now().Before(exp.Add(-c.opts.RefreshAhead)) {
		return tok, nil
	}
	v, err, _ := c.flight.Do("token", func() (any, error) {
		c.mu.Lock()
		tok, exp := c.token, c.expiry
		c.mu.Unlock()
		if tok != "" && c.opts.Now().Before(exp.Add(-c.opts.RefreshAhead)) {
			return tok, nil // a flight that just ended fetched it
		}
		return c.fetchToken(ctx)
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (c *Client) fetchToken(ctx context.Context) (string, error) {
	req := map[string]any{"grant_type": "client_credential", "appid": c.opts.AppID, "secret": c.opts.Secret, "force_refresh": false}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := c.doJSON(ctx, "stable_token", http.MethodPost, "/cgi-bin/stable_token", nil, req, &out); err != nil {
		return "", err
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return "", errors.New("wechat: stable_token: response without access_token")
	}
	c.mu.Lock()
	c.token, c.expiry = out.AccessToken, c.opts.Now().Add(time.Duration(out.ExpiresIn)*time.Second)
	c.mu.Unlock()
	return out.AccessToken, nil
}

// invalidate forgets the cached token if it is still tok (another caller may already have
// replaced it).
func (c *Client) invalidate(tok string) {
	c.mu.Lock()
	if c.token == tok {
		c.token = ""
	}
	c.mu.Unlock()
}

// busyRetries is how many times a call answered -1 (system busy) is tried again, after
// busyBackoff, then twice that, each with up to half taken off at random (internal/backoff).
const (
	busyRetries = 2
	busyBackoff = 200 * time.Millisecond
)

// call runs an API call with the access token. When WeChat rejects the token (40001, 40014,
// 42001), the cached token is dropped if it is the one that failed, and the call is retried
// once with a fresh token. "System busy" (-1) is retried after a short backoff.
func (c *Client) call(ctx context.Context, op string, do func(token string) error) (err error) {
	if c.opts.OnCall != nil {
		start := time.Now()
		defer func() { c.opts.OnCall(op, time.Since(start), err) }()
	}
	tokenRetried, busy := false, 0
	for {
		tok, err := c.Token(ctx)
		if err != nil {
			return err
		}
		err = do(tok)
		e, ok := AsError(err)
		switch {
		case ok && e.TokenInvalid() && !tokenRetried:
			tokenRetried = true
			c.invalidate(tok)
			continue
		case ok && e.Code == CodeBusy && busy < busyRetries:
			d := backoff.Backoff{Min: busyBackoff, Max: busyBackoff << busyRetries}.Delay(busy)
			busy++
			if werr := backoff.Sleep(ctx, d); werr != nil {
				return fmt.Errorf("wechat: %s: %w (gave up waiting: %v)", op, err, werr)
			}
			continue
		}
		return err
	}
}

// doJSON sends body as JSON (or nothing when nil) and decodes the answer into out, turning a
// non-zero errcode into *Error.
func (c *Client) doJSON(ctx context.Context, op, method, path string, q url.Values, body, out any) error {
	var rd io.Reader
	ctype := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("wechat: %s: %w", op, err)
		}
		rd, ctype = bytes.NewReader(b), "application/json"
	}
	return c.do(ctx, op, method, path, q, rd, ctype, out)
}

func (c *Client) do(ctx context.Context, op, method, path string, q url.Values, body io.Reader, ctype string, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("wechat: %s: %w", op, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return &UnreachableError{Op: op, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &UnreachableError{Op: op, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return &UnreachableError{Op: op, Err: fmt.Errorf("HTTP %s", resp.Status)}
	}
	var e struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return fmt.Errorf("wechat: %s: bad JSON answer: %w", op, err)
	}
	if e.ErrCode != 0 {
		return &Error{Code: e.ErrCode, Msg: e.ErrMsg, Op: op}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("wechat: %s: bad JSON answer: %w", op, err)
		}
	}
	return nil
}

// UnreachableError is a failure to get an answer from WeChat at all (network, HTTP status):
// the hub answers 503 for it, and 502 for an *Error.
type UnreachableError struct {
	Op  string
	Err error
}

func (e *UnreachableError) Error() string {
	return "wechat: " + e.Op + ": unreachable: " + e.Err.Error()
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// QRTicket is a temporary QR code.
type QRTicket struct {
	Ticket        string `json:"ticket"`
	ExpireSeconds int    `json:"expire_seconds"`
	URL           string `json:"url"` // the QR content; encode it locally
}

// MaxSceneLen is the longest scene_str WeChat accepts.
const MaxSceneLen = 64

// CreateQR creates a temporary QR_STR_SCENE code for scene that works for expire (at most 30
// days; sent explicitly, WeChat's default is 30 or 60 s).
func (c *Client) CreateQR(ctx context.Context, scene string, expire time.Duration) (QRTicket, error) {
	var t QRTicket
	if scene == "" || len(scene) > MaxSceneLen {
		return t, fmt.Errorf("wechat: qrcode/create: scene must be 1-%d characters, got %d", MaxSceneLen, len(scene))
	}
	secs := int(expire / time.Second)
	if secs < 1 || secs > 2592000 {
		return t, fmt.Errorf("wechat: qrcode/create: expire %s out of 1s..720h", expire)
	}
	body := map[string]any{
		"expire_seconds": secs,
		"action_name":    "QR_STR_SCENE",
		"action_info":    map[string]any{"scene": map[string]any{"scene_str": scene}},
	}
	err := c.call(ctx, "qrcode/create", func(tok string) error {
		return c.doJSON(ctx, "qrcode/create", http.MethodPost, "/cgi-bin/qrcode/create", url.Values{"access_token": {tok}}, body, &t)
	})
	return t, err
}

// UploadImage uploads a temporary image (JPEG, keep it under 2 MB) and returns its media_id,
// valid for three days.
func (c *Client) UploadImage(ctx context.Context, filename string, data []byte) (string, error) {
	var out struct {
		MediaID string `json:"media_id"`
	}
	err := c.call(ctx, "media/upload", func(tok string) error {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, err := mw.CreateFormFile("media", filename)
		if err != nil {
			return err
		}
		fw.Write(data)
		mw.Close()
		return c.do(ctx, "media/upload", http.MethodPost, "/cgi-bin/media/upload",
			url.Values{"access_token": {tok}, "type": {"image"}}, &buf, mw.FormDataContentType(), &out)
	})
	return out.MediaID, err
}

// SendNews sends one article to openid with message/custom/send (a customer-service
// message: allowed for a minute after a subscribe or scan, 3 messages; 45015 outside that
// window, 45047 beyond the count).
func (c *Client) SendNews(ctx context.Context, openid string, a Article) error {
	return c.sendCustom(ctx, map[string]any{
		"touser": openid, "msgtype": "news",
		"news": map[string]any{"articles": []map[string]string{{
			"title": a.Title, "description": a.Description, "url": a.URL, "picurl": a.PicURL}}},
	})
}

// SendImage sends an uploaded image (media_id from UploadImage) to openid as a
// customer-service message.
func (c *Client) SendImage(ctx context.Context, openid, mediaID string) error {
	return c.sendCustom(ctx, map[string]any{"touser": openid, "msgtype": "image", "image": map[string]string{"media_id": mediaID}})
}

// SendText sends a text to openid as a customer-service message.
func (c *Client) SendText(ctx context.Context, openid, content string) error {
	return c.sendCustom(ctx, map[string]any{"touser": openid, "msgtype": "text", "text": map[string]string{"content": content}})
}

func (c *Client) sendCustom(ctx context.Context, body map[string]any) error {
	return c.call(ctx, "message/custom/send", func(tok string) error {
		return c.doJSON(ctx, "message/custom/send", http.MethodPost, "/cgi-bin/message/custom/send", url.Values{"access_token": {tok}}, body, nil)
	})
}

// OAuthUser is the result of a web OAuth code exchange.
type OAuthUser struct {
	OpenID   string `json:"openid"`
	Snapshot bool   `json:"-"` // is_snapshotuser: a preview of the page, not a real user
}

// OAuthOpenID exchanges a snsapi_base OAuth code (single use, 5 minutes) for the openid.
func (c *Client) OAuthOpenID(ctx context.Context, code string) (OAuthUser, error) {
	var out struct {
		OpenID   string `json:"openid"`
		Snapshot int    `json:"is_snapshotuser"`
	}
	q := url.Values{"appid": {c.opts.AppID}, "secret": {c.opts.Secret}, "code": {code}, "grant_type": {"authorization_code"}}
	if err := c.doJSON(ctx, "oauth2/access_token", http.MethodGet, "/sns/oauth2/access_token", q, nil, &out); err != nil {
		return OAuthUser{}, err
	}
	if out.OpenID == "" {
		return OAuthUser{}, errors.New("wechat: oauth2/access_token: no openid")
	}
	return OAuthUser{OpenID: out.OpenID, Snapshot: out.Snapshot == 1}, nil
}

// DefaultOAuthBase is where WeChat's web OAuth starts.
const DefaultOAuthBase = "https://open.weixin.qq.com"

// AuthorizeURL is the snsapi_base OAuth URL that sends the shopper back to redirect with a code
// and state.
func AuthorizeURL(oauthBase, appID, redirect, state string) string {
	q := url.Values{"appid": {appID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"snsapi_base"}, "state": {state}}
	// WeChat wants the parameters in this order; url.Values sorts them, which it accepts too.
	return strings.TrimSuffix(oauthBase, "/") + "/connect/oauth2/authorize?" + q.Encode() + "#wechat_redirect"
}
