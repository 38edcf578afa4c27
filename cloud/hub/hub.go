package hub

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/internal/httpguard"
	"github.com/fitmirror/fitmirror/internal/jpegcheck"
)

// WeChat is what the hub needs from the Official Account API (*wechat.Client).
type WeChat interface {
	CreateQR(ctx context.Context, scene string, expire time.Duration) (wechat.QRTicket, error)
	UploadImage(ctx context.Context, filename string, data []byte) (string, error)
	OAuthOpenID(ctx context.Context, code string) (wechat.OAuthUser, error)
	// Customer-service messages: the fallback when the passive reply could not carry the
	// photo (a slow image upload) or missed WeChat's 5 s.
	SendNews(ctx context.Context, openid string, a wechat.Article) error
	SendImage(ctx context.Context, openid, mediaID string) error
}

// Publisher sends a message at QoS 1 (the embedded embedbroker.Broker, or an external broker).
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// What an unfollow does to the shopper's photos (Options.OnUnsubscribe).
const (
	UnsubscribeDelete = "delete" // delete them at once: the shopper withdrew (PIPL Art. 15)
	UnsubscribeKeep   = "keep"   // keep them until their retention
)

// Reply modes: how the photo reaches the shopper in the passive reply.
const (
	ReplyNews  = "news"  // an article linking to the photo page (default)
	ReplyImage = "image" // the photo itself, uploaded with media/upload
)

// Options configure a Hub. Store, Photos (or PhotoDir), WeChat, Callback, Publisher, AppID and
// PublicURL are required.
type Options struct {
	Store Store
	// Photos holds the JPEGs; nil = DirBlobs(PhotoDir), one file per photo.
	Photos    Blobs
	PhotoDir  string
	WeChat    WeChat
	Callback  *wechat.Callback
	Publisher Publisher
	AppID     string // for the OAuth link of the photo page
	// PublicURL is the hub's base URL as shoppers' phones and WeChat reach it.
	PublicURL string
	// OAuthBase is where the photo page sends a phone for snsapi_base OAuth;
	// "" = wechat.DefaultOAuthBase.
	OAuthBase   string
	TopicPrefix string // "" = "mirror"
	Reply       string // ReplyNews (default) or ReplyImage
	// MPVerify are the contents of the MP_verify_<content>.txt files WeChat asks for to
	// verify the OAuth domain; each is served at /MP_verify_<content>.txt.
	MPVerify []string
	// Releases and ReleaseFiles keep the signed software releases the mirrors fetch at
	// GET /v1/releases/{version}/{arch}; nil = none (404).
	Releases     ReleaseStore
	ReleaseFiles Files
	// Sim, when set, serves /sim/scan and the simulator's OAuth page (sim mode).
	Sim Simulator
	// MaxPhotoBytes bounds an uploaded photo; 0 = 8 MiB.
	MaxPhotoBytes int64
	// PhotoLimits bound what an uploaded photo may be and what decoding photos (the check on
	// upload, the thumbnails) may cost at once; zero fields = jpegcheck.Default.
	PhotoLimits jpegcheck.Limits
	// Per-device upload quota: uploads at once (0 = 4) and bytes per minute (0 = 64 MiB).
	MaxUploads           int
	UploadBytesPerMinute int64
	// Rates per client address (requests per second; the burst is 4 times that, at least
	// 10): the WeChat callback (0 = 50), the device API (0 = 20) and the photo page (0 = 10;
	// shoppers behind one carrier NAT share an address).
	// A negative rate turns the limit off.
	CallbackRate, DeviceAPIRate, PageRate float64
	// TrustedProxies are the load balancers and reverse proxies in front of the hub: for a
	// request from one of them the rate limits count the client X-Forwarded-For names (the
	// last address in it that is not a trusted proxy), not the proxy. Empty: the peer
	// address, and X-Forwarded-For is ignored (anyone can write it).
	TrustedProxies []netip.Prefix
	// OnUnsubscribe is what an unfollow does to the shopper's photos: UnsubscribeDelete (the
	// default) or UnsubscribeKeep. Either way no further message goes to them.
	OnUnsubscribe string
	// UnscannedGrace: a photo nobody scanned is deleted this long after its last QR code
	// expired; 0 = 10 minutes. Retention: a scanned photo is deleted this long after it was
	// uploaded; 0 = 7 days.
	UnscannedGrace time.Duration
	Retention      time.Duration
	// HealthChecks are reported by /healthz next to the database (e.g. the broker).
	HealthChecks []HealthCheck
	Metrics      *Metrics         // nil = NewMetrics()
	Logger       *slog.Logger     // nil = slog.Default()
	Now          func() time.Time // nil = time.Now
}

// Hub is the service. Handler serves HTTP; Run republishes bindings whose publish failed.
type Hub struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	public  *url.URL
	prefix  string
	salt    []byte // for the user hash
	cookie  []byte // for the photo page cookie
	metrics *Metrics
	blobs   Blobs
	quota   *uploadQuota
	jpegs   *jpegcheck.Decoder // every decode of a photo: the upload check and the thumbnails
	// quietLog reports a burst of bad requests (tokens, signatures) once per client a minute.
	quietLog *httpguard.QuietLog

	locks keyLocks

	wake      chan struct{} // kicks the delivery loop
	deliverMu sync.Mutex    // one delivery round at a time

	fbMu      sync.Mutex
	fallbacks map[string]*fallback // dedupe key → the photo's way to the shopper, while WeChat may retry
	gone      map[string]time.Time // openids that unfollowed within the message window: no message goes to them
}

// New checks the options and returns a hub.
func New(opts Options) (*Hub, error) {
	if opts.Store == nil || opts.WeChat == nil || opts.Callback == nil || opts.Publisher == nil || (opts.PhotoDir == "" && opts.Photos == nil) {
		return nil, errors.New("hub: Store, Photos (or PhotoDir), WeChat, Callback and Publisher are required")
	}
	if opts.Photos == nil {
		opts.Photos = DirBlobs(opts.PhotoDir)
	}
	u, err := url.Parse(opts.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("public_url: %q is not an http(s) URL with a host", opts.PublicURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if opts.OAuthBase == "" {
		opts.OAuthBase = wechat.DefaultOAuthBase
	}
	if opts.TopicPrefix == "" {
		opts.TopicPrefix = "mirror"
	}
	switch opts.Reply {
	case "":
		opts.Reply = ReplyNews
	case ReplyNews, ReplyImage:
	default:
		return nil, fmt.Errorf("hub: reply mode %q is not news or image", opts.Reply)
	}
	for _, v := range opts.MPVerify {
		if !mpVerifyRE.MatchString(v) {
			return nil, fmt.Errorf("hub: MP_verify content %q: want letters and digits", v)
		}
	}
	if opts.MaxPhotoBytes <= 0 {
		opts.MaxPhotoBytes = 8 << 20
	}
	if opts.MaxUploads <= 0 {
		opts.MaxUploads = 4
	}
	if opts.UploadBytesPerMinute <= 0 {
		opts.UploadBytesPerMinute = 64 << 20
	}
	for _, r := range []struct {
		rate *float64
		def  float64
	}{{&opts.CallbackRate, 50}, {&opts.DeviceAPIRate, 20}, {&opts.PageRate, 10}} {
		if *r.rate == 0 {
			*r.rate = r.def
		}
	}
	switch opts.OnUnsubscribe {
	case "":
		opts.OnUnsubscribe = UnsubscribeDelete
	case UnsubscribeDelete, UnsubscribeKeep:
	default:
		return nil, fmt.Errorf("hub: on_unsubscribe %q is not delete or keep", opts.OnUnsubscribe)
	}
	if opts.UnscannedGrace <= 0 {
		opts.UnscannedGrace = 10 * time.Minute
	}
	if opts.Retention <= 0 {
		opts.Retention = 7 * 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	h := &Hub{opts: opts, log: opts.Logger, now: opts.Now, public: u, prefix: opts.TopicPrefix, metrics: opts.Metrics,
		blobs: opts.Photos, wake: make(chan struct{}, 1), fallbacks: map[string]*fallback{}, gone: map[string]time.Time{},
		quota: newUploadQuota(opts.MaxUploads, opts.UploadBytesPerMinute), jpegs: jpegcheck.New(opts.PhotoLimits), quietLog: &httpguard.QuietLog{Log: opts.Logger}}
	gen := func() []byte {
		b := make([]byte, 32)
		rand.Read(b)
		return b
	}
	ctx := context.Background()
	if h.salt, err = opts.Store.Secret(ctx, "user_salt", gen); err != nil {
		return nil, err
	}
	if h.cookie, err = opts.Store.Secret(ctx, "cookie_key", gen); err != nil {
		return nil, err
	}
	if opts.Sim != nil {
		opts.Sim.Attach(http.HandlerFunc(h.callback), h.public)
	}
	// What a crash left mid-upload goes before this hub serves anything: no upload of this
	// process can be under way yet (a photo directory belongs to one hub process; replicas
	// keep photos in the database or a bucket). Sweeping in Run instead raced with the first
	// uploads, which Serve may already be taking.
	h.sweepUploads(0)
	return h, nil
}

var mpVerifyRE = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

// ParseMPVerify reads the wechat.mp_verify setting: comma-separated file names
// (MP_verify_XXXX.txt) or contents (XXXX); it returns the contents.
func ParseMPVerify(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v := strings.TrimSuffix(strings.TrimPrefix(f, "MP_verify_"), ".txt")
		if !mpVerifyRE.MatchString(v) {
			return nil, fmt.Errorf("%q: want MP_verify_XXXX.txt or XXXX (letters and digits) as the admin console names it", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// Handler returns the hub's HTTP routes.
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	device := h.limit(h.opts.DeviceAPIRate)
	callback := h.limit(h.opts.CallbackRate)
	mux.Handle("PUT /v1/photos/{id}", device(http.HandlerFunc(h.putPhoto)))
	mux.Handle("POST /v1/qrcodes", device(http.HandlerFunc(h.postQRCode)))
	mux.Handle("GET /v1/bindings", device(http.HandlerFunc(h.getBindings)))
	mux.Handle("POST /v1/bindings/ack", device(http.HandlerFunc(h.ackBindings)))
	mux.Handle("GET /v1/releases/{version}/{arch}", device(http.HandlerFunc(h.getRelease)))
	page := func(f http.HandlerFunc) http.Handler { return httpguard.PageHeaders(h.limit(h.opts.PageRate)(f)) }
	mux.Handle("GET /me", page(h.galleryPage))
	mux.Handle("GET /me/gallery.js", page(h.galleryScript))
	mux.Handle("GET /me/photos", page(h.galleryJSON))
	mux.Handle("DELETE /me/photos", page(h.galleryDelete))
	mux.Handle("DELETE /me/photos/{id}", page(h.galleryDelete))
	mux.Handle("GET /wechat/callback", callback(http.HandlerFunc(h.handshake)))
	mux.Handle("POST /wechat/callback", callback(http.HandlerFunc(h.callback)))
	mux.Handle("GET /p/{id}", httpguard.PageHeaders(h.limit(h.opts.PageRate)(http.HandlerFunc(h.photoPage))))
	mux.Handle("GET /t/{token}", httpguard.PageHeaders(h.limit(h.opts.PageRate)(http.HandlerFunc(h.thumbnail))))
	for _, v := range h.opts.MPVerify {
		mux.HandleFunc("GET /MP_verify_"+v+".txt", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, v)
		})
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h.healthz(w, r)
	})
	mux.Handle("GET /metrics", h.metrics.Handler())
	if s := h.opts.Sim; s != nil {
		mux.HandleFunc("POST /sim/scan", s.Scan)
		mux.HandleFunc("GET /sim/connect/oauth2/authorize", s.Authorize)
	}
	return mux
}

// limit is a per-client-address rate limit (requests per second, burst 4 times that, at
// least 10); a negative rate is no limit.
func (h *Hub) limit(rate float64) func(http.Handler) http.Handler {
	if rate < 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	l := httpguard.NewLimiter(rate, max(10, int(4*rate)))
	return func(next http.Handler) http.Handler {
		return httpguard.Limit(l, h.clientIP, next)
	}
}

// clientIP is the address a request's rate limit counts: the peer, or behind trusted
// proxies the client they name in X-Forwarded-For (each proxy appends the address it got the
// request from, so the last untrusted one is the client as far as the trusted ones know).
func (h *Hub) clientIP(r *http.Request) string {
	peer := httpguard.ClientIP(r)
	if !h.trustedProxy(peer) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				hops = append(hops, a)
			}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		if !h.trustedProxy(hops[i]) {
			return hops[i]
		}
	}
	return peer
}

func (h *Hub) trustedProxy(addr string) bool {
	ip, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range h.opts.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Run delivers bindings to the mirrors until they acknowledge them (see Deliver), and purges
// photos past their time every minute, until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() { defer close(done); h.deliverLoop(ctx) }()
	defer func() { <-done }()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	h.Purge(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			h.Purge(ctx)
		}
	}
}

// Purge deletes the photos nobody scanned once their QR codes expired (plus UnscannedGrace)
// and scanned photos after Retention, files and records, and forgets old handled events.
func (h *Hub) Purge(ctx context.Context) {
	h.sweepUploads(2 * time.Minute) // an upload in progress is younger (the server's read timeout)
	now := h.now()
	for {
		stale, err := h.opts.Store.StalePhotos(ctx, now.Add(-h.opts.UnscannedGrace), now.Add(-h.opts.Retention), 100)
		if err != nil {
			h.log.Warn("hub: purge", "err", err)
			return
		}
		for _, p := range stale {
			if err := h.deletePhoto(ctx, p); err != nil {
				h.log.Warn("hub: purge photo", "photo_id", p.ID, "err", err)
				return
			}
			h.metrics.purged.Inc()
			h.log.Info("photo purged", "photo_id", p.ID, "device", p.DeviceID)
		}
		if len(stale) < 100 {
			break
		}
	}
	if err := h.opts.Store.PruneEvents(ctx, now.Add(-h.opts.Retention)); err != nil {
		h.log.Warn("hub: prune events", "err", err)
	}
}

// deletePhoto deletes a photo's file, its thumbnail and its record (with its scenes and
// viewers).
func (h *Hub) deletePhoto(ctx context.Context, p Photo) error {
	if err := h.blobs.Delete(ctx, p.BlobKey()); err != nil {
		return fmt.Errorf("photo file: %w", err)
	}
	h.blobs.Delete(ctx, thumbKey(p)) // the news card's picture, if it was made
	return h.opts.Store.DeletePhoto(ctx, p.ID)
}

// userHash is the salted hash of an openid: what bindings and viewers carry instead of it.
func (h *Hub) userHash(openid string) string {
	m := hmac.New(sha256.New, h.salt)
	m.Write([]byte(openid))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// keyLocks serialises the handling of one dedupe key (WeChat retries while the first try is
// still running). Channels, not mutexes, so that tests in a synctest bubble see them block.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]chan struct{}
}

func (k *keyLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	for {
		k.mu.Lock()
		if k.locks == nil {
			k.locks = map[string]chan struct{}{}
		}
		ch, busy := k.locks[key]
		if !busy {
			ch = make(chan struct{})
			k.locks[key] = ch
			k.mu.Unlock()
			return func() {
				k.mu.Lock()
				delete(k.locks, key)
				k.mu.Unlock()
				close(ch)
			}, nil
		}
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
