package wechattest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is a fake Official Account platform. Set the exported fields before serving; they
// must not change afterwards, except through the methods.
type Server struct {
	AppID  string
	Secret string
	// Callback settings, for pushes: the Token and EncodingAESKey the account is configured with.
	Token  string
	AESKey string
	// OpenAccount is the account's original ID (gh_…), the ToUserName of pushes.
	OpenAccount string
	// OAuthDomain is the account's web OAuth domain (host[:port]); when set, OAuth links must
	// redirect to it.
	OAuthDomain string

	TokenTTL     time.Duration    // lifetime of an access token; 0 = 7200 s
	QRDailyQuota int              // qrcode/create calls allowed; 0 = 100000
	RetryAfter   time.Duration    // a push without an answer within this is retried; 0 = 5 s
	Now          func() time.Time // nil = time.Now
	// Client sends pushes; nil = http.DefaultClient. Use HandlerTransport to push in-process.
	Client *http.Client
	// OnTicket, when set, is told each ticket issued, after qrcode/create answered, with the
	// server's lock held (it must not call the Server). Sim mode keeps them across restarts.
	OnTicket func(Ticket)

	mu      sync.Mutex
	tokens  map[string]time.Time // every valid access token → its expiry
	stable  string               // the current stable token
	classic string               // the current classic token
	forced  []time.Time          // force_refresh calls
	stats   Stats
	fail    map[string][]int // API → errcodes to answer next
	delay   map[string]time.Duration
	tickets map[string]Ticket
	media   map[string][]byte
	codes   map[string]oauthCode
	sent    []Sent
	windows map[string]window // openid → the customer-message window their last action opened
	replies []Reply
}

// Stats counts the calls the server answered (successful or not).
type Stats struct {
	TokenCalls      int // stable_token and token calls
	QRCalls         int // qrcode/create calls
	QRIssued        int // tickets issued
	MediaCalls      int
	CustomCalls     int
	OAuthCalls      int
	Pushes          int // push attempts sent to a callback
	RejectedReplies int // passive replies WeChat would not show (ErrReplyRejected)
}

// Ticket is an issued QR code.
type Ticket struct {
	Ticket  string
	Scene   string
	URL     string
	Expires time.Time
}

// Sent is a message accepted by message/custom/send.
type Sent struct {
	ToUser  string
	MsgType string
	Body    json.RawMessage
}

type oauthCode struct {
	openid  string
	expires time.Time
	used    bool
}

// New returns a fake for appID and secret with the callback token "token" and a random
// EncodingAESKey.
func New(appID, secret string) *Server {
	var k [32]byte
	rand.Read(k[:])
	return &Server{
		AppID: appID, Secret: secret, Token: "token",
		AESKey:      base64.StdEncoding.EncodeToString(k[:])[:43],
		OpenAccount: "gh_fake0000000",
	}
}

// Start serves the fake on a loopback port; the returned URL is the API base (and OAuth base).
// Close the server when done.
func (s *Server) Start() *httptest.Server {
	return httptest.NewServer(s)
}

func (s *Server) init() {
	if s.tokens == nil {
		s.tokens = map[string]time.Time{}
		s.fail = map[string][]int{}
		s.delay = map[string]time.Duration{}
		s.tickets = map[string]Ticket{}
		s.media = map[string][]byte{}
		s.codes = map[string]oauthCode{}
		s.windows = map[string]window{}
	}
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) ttl() time.Duration {
	if s.TokenTTL > 0 {
		return s.TokenTTL
	}
	return 7200 * time.Second
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// FailNext makes the next n calls of api ("stable_token", "qrcode/create", "media/upload",
// "message/custom/send", "oauth2/access_token") answer errcode.
func (s *Server) FailNext(api string, errcode, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	for range n {
		s.fail[api] = append(s.fail[api], errcode)
	}
}

// Delay makes every call of api ("media/upload", "qrcode/create", …) take d longer before it
// is answered (0: no delay): a slow platform.
func (s *Server) Delay(api string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	s.delay[api] = d
}

// InvalidateTokens revokes every access token, as a classic /cgi-bin/token fetch by another
// process or a force_refresh does: calls with them answer 40001.
func (s *Server) InvalidateTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	clear(s.tokens)
	s.stable, s.classic = "", ""
}

// AddTicket makes t an issued ticket, as if qrcode/create had issued it (sim mode restores
// the tickets of its last run).
func (s *Server) AddTicket(t Ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tickets == nil {
		s.tickets = map[string]Ticket{}
	}
	s.tickets[t.Ticket] = t
}

// Tickets returns the issued QR codes.
func (s *Server) Tickets() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ticket
	for _, t := range s.tickets {
		out = append(out, t)
	}
	return out
}

// TicketFor returns the latest live ticket issued for scene.
func (s *Server) TicketFor(scene string) (Ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best Ticket
	for _, t := range s.tickets {
		if t.Scene == scene && t.Expires.After(best.Expires) {
			best = t
		}
	}
	return best, best.Ticket != ""
}

// TicketByURL returns the ticket whose QR content is u.
func (s *Server) TicketByURL(u string) (Ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tickets {
		if t.URL == u {
			return t, true
		}
	}
	return Ticket{}, false
}

// SentMessages returns what message/custom/send accepted.
func (s *Server) SentMessages() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Media returns an uploaded file by media_id.
func (s *Server) Media(id string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.media[id]
	return b, ok
}

// AuthorizeCode issues an OAuth code for openid, as WeChat does when the shopper opens an
// OAuth link (single use, valid 5 minutes).
func (s *Server) AuthorizeCode(openid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	code := randText(16)
	s.codes[code] = oauthCode{openid: openid, expires: s.now().Add(5 * time.Minute)}
	return code
}

func randText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// ServeHTTP serves the API, showqrcode and the OAuth authorize page.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	api := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/cgi-bin/"), "/sns/")
	s.mu.Lock()
	s.init()
	d := s.delay[api]
	s.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch r.URL.Path {
	case "/cgi-bin/stable_token":
		s.stableToken(w, r)
	case "/cgi-bin/token":
		s.classicToken(w, r)
	case "/cgi-bin/qrcode/create":
		s.qrCreate(w, r)
	case "/cgi-bin/showqrcode":
		s.showQR(w, r)
	case "/cgi-bin/media/upload":
		s.mediaUpload(w, r)
	case "/cgi-bin/message/custom/send":
		s.customSend(w, r)
	case "/sns/oauth2/access_token":
		s.oauthExchange(w, r)
	case "/connect/oauth2/authorize":
		s.oauthAuthorize(w, r)
	default:
		writeJSON(w, map[string]any{"errcode": 404, "errmsg": "unknown api " + r.URL.Path})
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

func errJSON(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, map[string]any{"errcode": code, "errmsg": msg})
}

// injected pops a queued failure for api; s.mu must be held.
func (s *Server) injected(api string) (int, bool) {
	q := s.fail[api]
	if len(q) == 0 {
		return 0, false
	}
	s.fail[api] = q[1:]
	return q[0], true
}

func (s *Server) credentials(appid, secret string) (int, string) {
	switch {
	case appid != s.AppID:
		return 40013, "invalid appid"
	case secret != s.Secret:
		return 40125, "invalid appsecret"
	}
	return 0, ""
}

func newToken() string {
	return "ACCESS_TOKEN_" + randText(40) + strings.Repeat("x", 100) // WeChat's are long
}

// issueStable is the stable token: the same while valid, a new one in its last 5 minutes (the
// old one keeps working until it expires), and with force a new one at once, the old one
// revoked. Stable and classic tokens do not affect each other. s.mu held.
func (s *Server) issueStable(force bool) (string, time.Duration) {
	now := s.now()
	exp, ok := s.tokens[s.stable]
	if force && ok {
		delete(s.tokens, s.stable)
		ok = false
	}
	if !ok || !now.Before(exp.Add(-5*time.Minute)) {
		s.stable = newToken()
		exp = now.Add(s.ttl())
		s.tokens[s.stable] = exp
	}
	return s.stable, exp.Sub(now)
}

// issueClassic is /cgi-bin/token: every fetch makes a new token; the previous one keeps
// working for 5 more minutes (at most until its own expiry). s.mu held.
func (s *Server) issueClassic() (string, time.Duration) {
	now := s.now()
	if exp, ok := s.tokens[s.classic]; ok {
		s.tokens[s.classic] = minTime(exp, now.Add(5*time.Minute))
	}
	s.classic = newToken()
	s.tokens[s.classic] = now.Add(s.ttl())
	return s.classic, s.ttl()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (s *Server) stableToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		errJSON(w, 47001, "data format error")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	s.stats.TokenCalls++
	if code, ok := s.injected("stable_token"); ok {
		errJSON(w, code, "injected")
		return
	}
	if req.GrantType != "client_credential" {
		errJSON(w, 40002, "invalid grant_type")
		return
	}
	if code, msg := s.credentials(req.AppID, req.Secret); code != 0 {
		errJSON(w, code, msg)
		return
	}
	if req.ForceRefresh {
		now := s.now()
		var recent []time.Time
		for _, t := range s.forced {
			if now.Sub(t) < 24*time.Hour {
				recent = append(recent, t)
			}
		}
		s.forced = recent
		if len(recent) >= 20 || (len(recent) > 0 && now.Sub(recent[len(recent)-1]) < 30*time.Second) {
			errJSON(w, 45009, "reach max api daily quota limit (force_refresh)")
			return
		}
		s.forced = append(s.forced, now)
	}
	tok, left := s.issueStable(req.ForceRefresh)
	writeJSON(w, map[string]any{"access_token": tok, "expires_in": int(left / time.Second)})
}

// classicToken is /cgi-bin/token: every fetch replaces the token; the old one works 5 more
// minutes.
func (s *Server) classicToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	s.stats.TokenCalls++
	if code, msg := s.credentials(q.Get("appid"), q.Get("secret")); code != 0 {
		errJSON(w, code, msg)
		return
	}
	if q.Get("grant_type") != "client_credential" {
		errJSON(w, 40002, "invalid grant_type")
		return
	}
	tok, left := s.issueClassic()
	writeJSON(w, map[string]any{"access_token": tok, "expires_in": int(left / time.Second)})
}

// checkToken validates the access_token parameter; s.mu held.
func (s *Server) checkToken(r *http.Request) (int, string) {
	tok := r.URL.Query().Get("access_token")
	exp, ok := s.tokens[tok]
	switch {
	case tok == "":
		return 41001, "access_token missing"
	case !ok:
		return 40001, "invalid credential, access_token is invalid or not latest"
	case !s.now().Before(exp):
		return 42001, "access_token expired"
	}
	return 0, ""
}

func (s *Server) qrCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ExpireSeconds *int   `json:"expire_seconds"`
		ActionName    string `json:"action_name"`
		ActionInfo    struct {
			Scene struct {
				SceneStr *string `json:"scene_str"`
				SceneID  *int64  `json:"scene_id"`
			} `json:"scene"`
		} `json:"action_info"`
	}
	bad := r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	s.stats.QRCalls++
	if code, msg := s.checkToken(r); code != 0 {
		errJSON(w, code, msg)
		return
	}
	if code, ok := s.injected("qrcode/create"); ok {
		errJSON(w, code, "injected")
		return
	}
	if bad {
		errJSON(w, 47001, "data format error")
		return
	}
	quota := s.QRDailyQuota
	if quota == 0 {
		quota = 100000
	}
	if s.stats.QRIssued >= quota {
		errJSON(w, 45009, "reach max api daily quota limit")
		return
	}
	exp := 30
	if req.ExpireSeconds != nil {
		exp = *req.ExpireSeconds
	}
	if exp > 2592000 || exp < 1 {
		errJSON(w, 40097, "invalid args: expire_seconds")
		return
	}
	var scene string
	switch req.ActionName {
	case "QR_STR_SCENE":
		if req.ActionInfo.Scene.SceneStr == nil {
			scene = "0" // the missing-wrapper mistake: events carry qrscene_0
		} else {
			scene = *req.ActionInfo.Scene.SceneStr
		}
		if len(scene) < 1 || len(scene) > 64 {
			errJSON(w, 40097, "invalid args: scene_str length")
			return
		}
	case "QR_SCENE":
		id := req.ActionInfo.Scene.SceneID
		if id == nil || *id == 0 || *id > 1<<32-1 {
			errJSON(w, 40097, "invalid args: scene_id")
			return
		}
		scene = strconv.FormatInt(*id, 10)
	default:
		errJSON(w, 40097, "invalid args: action_name "+req.ActionName)
		return
	}
	s.stats.QRIssued++
	// Real tickets are base64 with + / =, which callers must URL-encode.
	raw := make([]byte, 72)
	rand.Read(raw)
	raw[0], raw[1] = 0xfb, 0xff // makes the encoding start with "+/"
	t := Ticket{
		Ticket:  base64.StdEncoding.EncodeToString(raw[:70]),
		Scene:   scene,
		URL:     "http://weixin.qq.com/q/" + randText(22),
		Expires: s.now().Add(time.Duration(exp) * time.Second),
	}
	s.tickets[t.Ticket] = t
	if s.OnTicket != nil {
		defer s.OnTicket(t) // after the answer is written, with the server's lock held
	}
	writeJSON(w, map[string]any{"ticket": t.Ticket, "expire_seconds": exp, "url": t.URL})
}

func (s *Server) showQR(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	t, ok := s.tickets[r.URL.Query().Get("ticket")]
	live := ok && s.now().Before(t.Expires)
	s.mu.Unlock()
	if !live {
		http.NotFound(w, r)
		return
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil)
	w.Header().Set("Content-Type", "image/jpg")
	w.Write(buf.Bytes())
}

func (s *Server) mediaUpload(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.init()
	s.stats.MediaCalls++
	code, msg := s.checkToken(r)
	if code == 0 {
		if c, ok := s.injected("media/upload"); ok {
			code, msg = c, "injected"
		}
	}
	s.mu.Unlock()
	if code != 0 {
		errJSON(w, code, msg)
		return
	}
	if r.URL.Query().Get("type") != "image" {
		errJSON(w, 40004, "invalid media type")
		return
	}
	if err := r.ParseMultipartForm(4 << 20); err != nil {
		errJSON(w, 41005, "media data missing")
		return
	}
	f, hdr, err := r.FormFile("media")
	if err != nil {
		errJSON(w, 41005, "media data missing")
		return
	}
	defer f.Close()
	if hdr.Size > 2<<20 {
		errJSON(w, 40006, "invalid media size")
		return
	}
	var buf bytes.Buffer
	buf.ReadFrom(f)
	if !bytes.HasPrefix(buf.Bytes(), []byte{0xff, 0xd8}) {
		errJSON(w, 40005, "invalid file type")
		return
	}
	id := randText(32)
	s.mu.Lock()
	s.media[id] = buf.Bytes()
	s.mu.Unlock()
	writeJSON(w, map[string]any{"type": "image", "media_id": id, "created_at": s.now().Unix()})
}

// window is what a user's action allows: max customer-service messages until ends.
type window struct {
	ends time.Time
	max  int
	sent int
}

// openWindow records a user action that allows customer-service messages (a scan or
// subscribe: 3 within a minute; a message from the user: 5 within 48 hours). s.mu held.
func (s *Server) openWindow(openid string, m wechatMessage) {
	now := s.now()
	switch {
	case m.MsgType == "event" && (m.Event == "subscribe" || m.Event == "SCAN"):
		s.windows[openid] = window{ends: now.Add(time.Minute), max: 3}
	case m.MsgType != "event":
		s.windows[openid] = window{ends: now.Add(48 * time.Hour), max: 5}
	}
}

// customSend is message/custom/send: only inside the window a user's action opened (45015
// outside, 45047 beyond its count), text with content, image with a media_id this server
// issued (40007 otherwise), news with exactly one article (45008 otherwise).
func (s *Server) customSend(w http.ResponseWriter, r *http.Request) {
	var body json.RawMessage
	var req struct {
		ToUser  string `json:"touser"`
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
		Image *struct {
			MediaID string `json:"media_id"`
		} `json:"image"`
		News *struct {
			Articles []struct {
				Title  string `json:"title"`
				URL    string `json:"url"`
				PicURL string `json:"picurl"`
			} `json:"articles"`
		} `json:"news"`
	}
	bad := json.NewDecoder(r.Body).Decode(&body) != nil || json.Unmarshal(body, &req) != nil
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	s.stats.CustomCalls++
	if code, msg := s.checkToken(r); code != 0 {
		errJSON(w, code, msg)
		return
	}
	if code, ok := s.injected("message/custom/send"); ok {
		errJSON(w, code, "injected")
		return
	}
	if bad || req.ToUser == "" {
		errJSON(w, 47001, "data format error")
		return
	}
	switch req.MsgType {
	case "text":
		if req.Text == nil || req.Text.Content == "" {
			errJSON(w, 44004, "empty content")
			return
		}
	case "image":
		if req.Image == nil {
			errJSON(w, 47001, "data format error")
			return
		}
		if _, ok := s.media[req.Image.MediaID]; !ok {
			errJSON(w, 40007, "invalid media_id")
			return
		}
	case "news":
		if req.News == nil || len(req.News.Articles) != 1 {
			errJSON(w, 45008, "article size out of limit")
			return
		}
		if a := req.News.Articles[0]; a.Title == "" || !httpURL(a.URL) || (a.PicURL != "" && !httpURL(a.PicURL)) {
			errJSON(w, 47001, "data format error")
			return
		}
	default:
		errJSON(w, 40008, "invalid message type")
		return
	}
	win, ok := s.windows[req.ToUser]
	if !ok || !s.now().Before(win.ends) {
		errJSON(w, 45015, "response out of time limit or subscription is canceled")
		return
	}
	if win.sent >= win.max {
		errJSON(w, 45047, "out of response count limit")
		return
	}
	win.sent++
	s.windows[req.ToUser] = win
	s.sent = append(s.sent, Sent{ToUser: req.ToUser, MsgType: req.MsgType, Body: body})
	errJSON(w, 0, "ok")
}

func (s *Server) oauthExchange(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	s.stats.OAuthCalls++
	if code, ok := s.injected("oauth2/access_token"); ok {
		errJSON(w, code, "injected")
		return
	}
	if code, msg := s.credentials(q.Get("appid"), q.Get("secret")); code != 0 {
		errJSON(w, code, msg)
		return
	}
	c, ok := s.codes[q.Get("code")]
	switch {
	case ok && c.used:
		errJSON(w, 40163, "code been used")
		return
	case !ok || !s.now().Before(c.expires):
		errJSON(w, 40029, "invalid code")
		return
	}
	c.used = true
	s.codes[q.Get("code")] = c
	writeJSON(w, map[string]any{"access_token": "OAUTH_" + randText(20), "expires_in": 7200,
		"refresh_token": randText(20), "openid": c.openid, "scope": "snsapi_base"})
}

// oauthAuthorize stands in for open.weixin.qq.com/connect/oauth2/authorize: it redirects to
// redirect_uri with a fresh code and the state. Who the shopper is cannot be known to a fake:
// the openid query parameter says it (default "o_fake_shopper").
func (s *Server) oauthAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := s.checkAuthorize(r.URL.Path, r.URL.RawQuery); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	redirect, _ := url.Parse(q.Get("redirect_uri"))
	openid := q.Get("openid")
	if openid == "" {
		openid = "o_fake_shopper"
	}
	rq := redirect.Query()
	rq.Set("code", s.AuthorizeCode(openid))
	rq.Set("state", q.Get("state"))
	redirect.RawQuery = rq.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// String describes the fake for test logs.
func (s *Server) String() string { return fmt.Sprintf("wechattest.Server(%s)", s.AppID) }
