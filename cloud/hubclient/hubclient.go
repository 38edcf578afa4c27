// Package hubclient is the agent's side of mirror-cloud: the "hub" QR provider. For each
// photo it uploads the JPEG (PUT /v1/photos/{id}, idempotent), asks for a WeChat QR code bound
// to it (POST /v1/qrcodes), and returns the code's url for the agent to render locally. The
// binding comes back over MQTT (mirror/{id}/binding); the Provider is also the fleet client's
// [fleet.BindingHub]: it fetches missed bindings and acknowledges received ones.
//
// Errors are typed so the agent can tell "the hub or WeChat is down, try again" ([Down]) from
// a refusal that will not go away (a bad token, a photo too large).
package hubclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/health"
	"github.com/fitmirror/fitmirror/internal/jpegcheck"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// Photos is what the provider needs from the photo store.
type Photos interface {
	Open(id string) (io.ReadSeekCloser, error)
}

// Options configure a Provider. BaseURL, Token and Photos are required.
type Options struct {
	BaseURL string // the hub, e.g. "https://hub.example.com"
	Token   string // the device's API token (mirror-cloud device add)
	Photos  Photos
	// TTL is how long a QR code works (expire_seconds); 0 = 5 minutes. The hub accepts 60 s..30 days.
	TTL        time.Duration
	HTTPClient *http.Client // nil = a client with a 15 s timeout
	// Health, when set, gets the hub part: failing while the hub is down (unreachable, or
	// refusing for now), ok once a QR code comes back.
	Health *health.Tracker
}

// Provider implements session.Provider with the hub.
type Provider struct {
	opts Options
	base string

	jpegs *jpegcheck.Decoder // one photo checked at a time, within a small budget

	mu       sync.Mutex
	uploaded map[string]bool // photo IDs the hub has
}

var _ session.Provider = (*Provider)(nil)

// New checks the options.
func New(opts Options) (*Provider, error) {
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cloud.hub_url: %q is not an http(s) URL with a host", opts.BaseURL)
	}
	if opts.Token == "" {
		return nil, errors.New("cloud.token: required with the hub provider (mirror-cloud device add prints it)")
	}
	if opts.Photos == nil {
		return nil, errors.New("hubclient: Photos is required")
	}
	if opts.TTL == 0 {
		opts.TTL = wire.DefaultQRExpireSeconds * time.Second
	}
	if opts.TTL < wire.MinQRExpireSeconds*time.Second || opts.TTL > wire.MaxQRExpireSeconds*time.Second {
		return nil, fmt.Errorf("hubclient: TTL %s out of 1m..720h", opts.TTL)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if opts.Health != nil {
		opts.Health.Register(wire.PartHub, health.Degraded, wire.HealthOK)
	}
	// The hub's limits, with a budget for a Raspberry Pi: a 12 Mpx baseline photo needs ~20 MB.
	jpegs := jpegcheck.New(jpegcheck.Limits{Budget: 128 << 20, Workers: 1})
	return &Provider{opts: opts, base: strings.TrimSuffix(opts.BaseURL, "/"), jpegs: jpegs, uploaded: map[string]bool{}}, nil
}

// Error is a refusal by the hub: its status and {"error":{"code","message"}}.
type Error struct {
	Op      string // "upload photo" or "create qr"
	Status  int
	Code    string // a wire.Code… of the hub's API (wire.CodeWeChatError…), or "http_error"
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("hubclient: %s: %d %s: %s", e.Op, e.Status, e.Code, e.Message)
}

// Temporary reports whether trying again later may work: the hub or WeChat is down or
// overloaded (429, 502, 503, other 5xx).
func (e *Error) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// ErrUnreachable wraps failures to reach the hub at all (network, timeout).
var ErrUnreachable = errors.New("hub unreachable")

// Down reports whether err means the provider is down for now (unreachable, or a temporary
// refusal such as WeChat's 502 wechat_error): the agent shows "QR unavailable" and retries.
func Down(err error) bool {
	if errors.Is(err, ErrUnreachable) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Temporary()
}

// QR uploads the photo (once) and returns a fresh WeChat QR code bound to it, working for
// ttl (0: Options.TTL).
func (p *Provider) QR(ctx context.Context, ph session.Photo, ttl time.Duration) (display.QR, error) {
	qr, err := p.qr(ctx, ph, ttl)
	if h := p.opts.Health; h != nil {
		switch {
		case err == nil:
			h.SetOK(wire.PartHub)
		case Down(err):
			h.Set(wire.PartHub, "failing", err.Error())
		}
	}
	return qr, err
}

func (p *Provider) qr(ctx context.Context, ph session.Photo, ttl time.Duration) (display.QR, error) {
	if ttl <= 0 {
		ttl = p.opts.TTL
	}
	if ttl < wire.MinQRExpireSeconds*time.Second || ttl > wire.MaxQRExpireSeconds*time.Second {
		return display.QR{}, fmt.Errorf("hubclient: QR code TTL %s out of 1m..720h", ttl)
	}
	if err := p.upload(ctx, ph); err != nil {
		return display.QR{}, err
	}
	secs := int(ttl / time.Second)
	body, _ := json.Marshal(wire.QRRequest{PhotoID: ph.ID, ExpireSeconds: &secs})
	var out wire.QRCode
	if err := p.do(ctx, "create qr", http.MethodPost, "/v1/qrcodes", "application/json", nil, bytes.NewReader(body), &out); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			// The hub lost the photo (a new database?): upload again next time.
			p.mu.Lock()
			delete(p.uploaded, ph.ID)
			p.mu.Unlock()
		}
		return display.QR{}, err
	}
	if out.URL == "" || out.ExpiresAt.IsZero() {
		return display.QR{}, fmt.Errorf("hubclient: create qr: answer without url or expires_at")
	}
	return display.QR{Content: out.URL, ExpiresAt: out.ExpiresAt.UTC()}, nil
}

func (p *Provider) upload(ctx context.Context, ph session.Photo) error {
	p.mu.Lock()
	done := p.uploaded[ph.ID]
	p.mu.Unlock()
	if done {
		return nil
	}
	data, err := p.readPhoto(ctx, ph.ID)
	if err != nil {
		return err
	}
	hdr := http.Header{"X-Session-Id": {ph.SessionID}}
	if err := p.do(ctx, "upload photo", http.MethodPut, "/v1/photos/"+url.PathEscape(ph.ID), "image/jpeg", hdr, sizedReader{bytes.NewReader(data), int64(len(data))}, nil); err != nil {
		return err
	}
	p.mu.Lock()
	if len(p.uploaded) >= maxRemembered {
		clear(p.uploaded) // forgetting only costs an idempotent PUT (200)
	}
	p.uploaded[ph.ID] = true
	p.mu.Unlock()
	return nil
}

// maxPhotoBytes bounds a photo read for upload (the hub's own limit is 8 MiB by default).
const maxPhotoBytes = 64 << 20

// readPhoto reads a photo and checks it as the hub will (internal/jpegcheck): a file that is
// not a whole JPEG within the photo limits (a broken write, a corrupted card) is refused here
// with the hub's code, invalid_photo, and is not sent.
func (p *Provider) readPhoto(ctx context.Context, id string) ([]byte, error) {
	f, err := p.opts.Photos.Open(id)
	if err != nil {
		return nil, fmt.Errorf("hubclient: upload photo %s: %w", id, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPhotoBytes+1))
	if err != nil {
		return nil, fmt.Errorf("hubclient: upload photo %s: %w", id, err)
	}
	if len(data) > maxPhotoBytes {
		return nil, &Error{Op: "upload photo", Code: wire.CodeTooLarge, Message: fmt.Sprintf("photo %s is over %d bytes", id, maxPhotoBytes)}
	}
	if _, err := p.jpegs.Check(ctx, data); err != nil {
		var refusal *jpegcheck.Refusal
		if errors.As(err, &refusal) {
			return nil, &Error{Op: "upload photo", Code: wire.CodeInvalidPhoto, Message: fmt.Sprintf("photo %s: %s", id, refusal.Reason)}
		}
		return nil, fmt.Errorf("hubclient: upload photo %s: %w", id, err)
	}
	return data, nil
}

// maxRemembered bounds the set of photos known to be uploaded.
const maxRemembered = 4096

// sizedReader lets the request carry a Content-Length.
type sizedReader struct {
	io.Reader
	n int64
}

func (p *Provider) do(ctx context.Context, op, method, path, ctype string, hdr http.Header, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, body)
	if err != nil {
		return fmt.Errorf("hubclient: %s: %w", op, err)
	}
	if s, ok := body.(sizedReader); ok {
		req.ContentLength = s.n
		req.Body = io.NopCloser(s.Reader)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer "+p.opts.Token)
	resp, err := p.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("hubclient: %s: %w: %v", op, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("hubclient: %s: %w: %v", op, ErrUnreachable, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		e := &Error{Op: op, Status: resp.StatusCode}
		var v wire.APIError
		if json.Unmarshal(data, &v) == nil && v.Error.Code != "" {
			e.Code, e.Message = v.Error.Code, v.Error.Message
		} else {
			e.Code, e.Message = "http_error", strings.TrimSpace(string(data))
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("hubclient: %s: bad answer: %w", op, err)
		}
	}
	return nil
}

// PendingBindings asks the hub for the bindings of this device it has no acknowledgement
// for (GET /v1/bindings): the ones the mirror missed while it was away. It makes the
// Provider a fleet.BindingHub.
func (p *Provider) PendingBindings(ctx context.Context) ([]wire.Binding, error) {
	var out wire.PendingBindings
	if err := p.do(ctx, "pending bindings", http.MethodGet, "/v1/bindings", "", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Bindings, nil
}

// AckBindings tells the hub the mirror has these bindings (POST /v1/bindings/ack); the hub
// stops delivering them.
func (p *Provider) AckBindings(ctx context.Context, ids []string) error {
	body, _ := json.Marshal(wire.AckRequest{BindingIDs: ids})
	return p.do(ctx, "ack bindings", http.MethodPost, "/v1/bindings/ack", "application/json", nil, bytes.NewReader(body), nil)
}

var _ fleet.BindingHub = (*Provider)(nil)
