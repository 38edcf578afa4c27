// Package local is the QR provider that needs no cloud: each photo's QR code opens the agent's
// own photo page on the store's network, /p/{photo_id}?k={token}, with an unguessable token
// that expires with the QR code. Opening the page is the binding. It suits a pop-up store with
// no WeChat Official Account, and a developer's laptop.
package local

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/httpguard"
	"github.com/fitmirror/fitmirror/internal/photopage"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// Photos is what the provider needs from the photo store.
type Photos interface {
	Open(id string) (io.ReadSeekCloser, error)
}

// Options configure a Provider.
type Options struct {
	// PublicURL is the base URL the QR code encodes, reachable from a shopper's phone,
	// e.g. "http://192.168.1.20:8081".
	PublicURL string
	// TTL is how long a QR code (and its token) works; 0 = 5 minutes.
	TTL time.Duration
	// Photos opens stored photos.
	Photos Photos
	// OnBound is called each time a valid link is opened (the engine binds a photo once).
	OnBound func(photoID string)
	Logger  *slog.Logger
	Now     func() time.Time // nil = time.Now
}

// Provider issues local QR codes and serves the photo page.
type Provider struct {
	opts Options
	base *url.URL

	mu     sync.Mutex
	grants map[string][]grant // photo ID → live tokens

	limit *httpguard.Limiter  // requests per client address
	quiet *httpguard.QuietLog // a burst of bad links is logged once per client
}

// Requests per second one client address may make to the photo page, and its burst (a page
// and its photo are two requests; a phone retries a few).
const (
	pageRate  = 5
	pageBurst = 20
)

type grant struct {
	token   string
	expires time.Time
}

var _ session.Provider = (*Provider)(nil)

// New checks the options and returns a provider.
func New(opts Options) (*Provider, error) {
	u, err := url.Parse(opts.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cloud.local.public_url: %q is not an http(s) URL with a host", opts.PublicURL)
	}
	if opts.Photos == nil {
		return nil, errors.New("local: Photos is required")
	}
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OnBound == nil {
		opts.OnBound = func(string) {}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Provider{opts: opts, base: u, grants: map[string][]grant{},
		limit: httpguard.NewLimiter(pageRate, pageBurst), quiet: &httpguard.QuietLog{Log: opts.Logger}}, nil
}

// QR returns a fresh link for the photo. Earlier links for it keep working until they expire:
// a phone may have scanned the previous code a moment before it was renewed.
func (p *Provider) QR(ctx context.Context, ph session.Photo, ttl time.Duration) (display.QR, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return display.QR{}, fmt.Errorf("local: token: %w", err)
	}
	if ttl <= 0 {
		ttl = p.opts.TTL
	}
	now := p.opts.Now()
	g := grant{token: base64.RawURLEncoding.EncodeToString(b[:]), expires: now.Add(ttl)}
	p.mu.Lock()
	live := p.grants[ph.ID][:0]
	for _, old := range p.grants[ph.ID] {
		if now.Before(old.expires) {
			live = append(live, old)
		}
	}
	p.grants[ph.ID] = append(live, g)
	p.mu.Unlock()
	u := *p.base
	u.Path += "/p/" + ph.ID
	u.RawQuery = "k=" + g.token
	return display.QR{Content: u.String(), ExpiresAt: g.expires.UTC().Truncate(time.Millisecond)}, nil
}

// Forget drops every token of a photo (when it is purged).
func (p *Provider) Forget(photoID string) {
	p.mu.Lock()
	delete(p.grants, photoID)
	p.mu.Unlock()
}

// FollowPurges forgets each purged photo, whoever purged it (the engine, the janitor, a
// fleet command): give it to the agent's recorder as a follower.
func (p *Provider) FollowPurges(ev session.Event) {
	if ev.Type == wire.EventPhotoPurged {
		p.Forget(ev.PhotoID)
	}
}

func (p *Provider) valid(photoID, token string) bool {
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := false
	for _, g := range p.grants[photoID] {
		if subtle.ConstantTimeCompare([]byte(g.token), []byte(token)) == 1 && now.Before(g.expires) {
			ok = true
		}
	}
	return ok
}

// ServeHTTP serves GET /p/{photo_id}?k={token}: a small page with the photo for a phone's
// browser (Accept: text/html), or the JPEG itself for anything else; &download=1 sends it as a
// file. A wrong or expired token, or a photo already purged, gets a plain page saying so.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/p/")
	if !ok || id == "" || strings.Contains(id, "/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Content-Security-Policy", photopage.CSP)
	httpguard.SetPageHeaders(w.Header())
	client := httpguard.ClientIP(r)
	if ok, wait := p.limit.Allow(client); !ok {
		p.quiet.Warn("rate:"+client, "photo page: too many requests from one client", "remote", client)
		httpguard.TooMany(w, wait)
		return
	}
	token := r.URL.Query().Get("k")
	// An unknown photo and a known one with a wrong token get the same answer.
	if !p.valid(id, token) {
		p.quiet.Warn("link:"+client, "photo page: link invalid or expired", "remote", client)
		photopage.Message(w, http.StatusForbidden, "链接已失效", "This link has expired. Scan the code on the mirror again.")
		return
	}
	f, err := p.opts.Photos.Open(id)
	if err != nil {
		p.opts.Logger.Info("photo page: photo gone", "photo_id", id, "err", err)
		photopage.Message(w, http.StatusGone, "照片已删除", "This photo is no longer kept.")
		return
	}
	defer f.Close()
	p.opts.OnBound(id)
	if r.URL.Query().Get("raw") == "" && r.URL.Query().Get("download") == "" && strings.Contains(r.Header.Get("Accept"), "text/html") {
		q := url.Values{"k": {token}, "raw": {"1"}}
		dl := url.Values{"k": {token}, "download": {"1"}}
		photopage.Photo(w, "你的照片", "Your photo — press and hold to save.", "/p/"+id+"?"+q.Encode(), "/p/"+id+"?"+dl.Encode())
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	disp := "inline"
	if r.URL.Query().Get("download") != "" {
		disp = "attachment"
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`%s; filename="fitmirror-%s.jpg"`, disp, id))
	http.ServeContent(w, r, "", time.Time{}, f)
}
