package hub_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
)

// phone is a shopper's browser: it follows the OAuth redirect through the fake as openid.
type phone struct {
	t      *testing.T
	fake   *wechattest.Server
	openid string
	c      *http.Client
}

func newPhone(t *testing.T, e *env, openid string) *phone {
	jar, _ := cookiejar.New(nil)
	return &phone{t: t, fake: e.fake, openid: openid, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get fetches u, going through WeChat's OAuth page as p.openid when redirected there.
func (p *phone) get(u string) (int, http.Header, []byte) {
	p.t.Helper()
	for range 5 {
		resp, err := p.c.Get(u)
		if err != nil {
			p.t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			return resp.StatusCode, resp.Header, b
		}
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if strings.HasSuffix(loc.Path, "/connect/oauth2/authorize") {
			if err := p.fake.CheckAuthorizeURL(resp.Header.Get("Location")); err != nil || loc.Query().Get("scope") != "snsapi_base" {
				p.t.Fatalf("OAuth link %s: %v (want scope snsapi_base)", loc, err)
			}
			// Who the shopper is: the fake's OAuth page takes it from openid.
			loc.RawQuery, loc.Fragment = loc.RawQuery+"&openid="+url.QueryEscape(p.openid), ""
		}
		u = loc.String()
	}
	p.t.Fatal("too many redirects")
	return 0, nil, nil
}

// oauthState is the state the photo page at path sends to OAuth.
func oauthState(t *testing.T, e *env, path string) string {
	t.Helper()
	resp, err := newPhone(t, e, "x").c.Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	return loc.Query().Get("state")
}

func TestPhotoPageServesOnlyTheScanner(t *testing.T) {
	e := newEnv(t)
	_, ticket := e.upload("P1")
	if _, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_alice", false, wechattest.Safe); err != nil {
		t.Fatal(err)
	}
	alice := newPhone(t, e, "o_alice")
	st, _, b := alice.get(e.srv.URL + "/p/P1")
	if st != 200 || !bytes.Contains(b, []byte(`src="/p/P1?raw=1"`)) {
		t.Fatalf("alice's photo page = %d %s", st, b)
	}
	// Saved with a long press on the image in WeChat's browser: no download link there.
	if bytes.Contains(b, []byte("download")) || bytes.Contains(b, []byte("<a ")) || !bytes.Contains(b, []byte("长按")) {
		t.Errorf("photo page %s: want the image, the long-press hint and no download link", b)
	}
	st, h, b := alice.get(e.srv.URL + "/p/P1?raw=1")
	if st != 200 || h.Get("Content-Type") != "image/jpeg" || !bytes.Equal(b, face(t)) {
		t.Errorf("alice's photo = %d %s, %d bytes; want the JPEG", st, h.Get("Content-Type"), len(b))
	}
	tests := []struct {
		name, openid, path string
		want               int
	}{
		{"someone else", "o_mallory", "/p/P1", 403},
		{"someone else, raw", "o_mallory", "/p/P1?raw=1", 403},
		{"unknown photo: the same answer as someone else's", "o_alice", "/p/NOPE", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _, b := newPhone(t, e, tt.openid).get(e.srv.URL + tt.path)
			if st != tt.want || bytes.Equal(b, face(t)) {
				t.Errorf("GET %s as %s = %d, want %d", tt.path, tt.openid, st, tt.want)
			}
		})
	}
	// The page's own state comes back from OAuth with the code; another state is refused.
	state := oauthState(t, e, "/p/P1")
	if len(state) > 128 || strings.Trim(state, "0123456789abcdefABCDEF") != "" || strings.Contains(state, "P1") {
		t.Errorf("state %q: want an opaque value of letters and digits", state)
	}
	code := e.fake.AuthorizeCode("o_alice")
	for _, bad := range []string{"", "P1", strings.Repeat("0", 32)} {
		if st, _, _ := newPhone(t, e, "x").get(e.srv.URL + "/p/P1?code=" + code + "&state=" + bad); st != 403 {
			t.Errorf("code with state %q: %d, want 403", bad, st)
		}
	}
	if st, _, _ := newPhone(t, e, "x").get(e.srv.URL + "/p/P1?code=" + code + "&state=" + state); st != 200 {
		t.Errorf("fresh code: %d, want 200", st)
	}
	// The link reopened after the cookie expired still carries the used code: the page
	// authorises again (40163) instead of refusing the shopper, and a stranger still gets 403.
	if st, _, b := newPhone(t, e, "o_alice").get(e.srv.URL + "/p/P1?code=" + code + "&state=" + state); st != 200 || !bytes.Contains(b, []byte(`src="/p/P1?raw=1"`)) {
		t.Errorf("reused code, alice: %d, want her page again", st)
	}
	if st, _, _ := newPhone(t, e, "o_mallory").get(e.srv.URL + "/p/P1?code=" + code + "&state=" + state); st != 403 {
		t.Errorf("reused code, mallory: %d, want 403", st)
	}
	// The re-authorisation is tried once: a stale code on the retry is refused.
	resp, err := newPhone(t, e, "x").c.Get(e.srv.URL + "/p/P1?code=" + code + "&state=" + state)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	retry, _ := url.Parse(resp.Header.Get("Location"))
	retryState := retry.Query().Get("state")
	if resp.StatusCode != 302 || retryState == state || retryState == "" {
		t.Fatalf("reused code = %d to %s, want a redirect to OAuth with the retry state", resp.StatusCode, retry)
	}
	if st, _, _ := newPhone(t, e, "x").get(e.srv.URL + "/p/P1?code=" + code + "&state=" + retryState); st != 403 {
		t.Errorf("stale code on the retry: %d, want 403 (no loop)", st)
	}
	// A forged cookie does not open the photo.
	req, _ := http.NewRequest("GET", e.srv.URL+"/p/P1?raw=1", nil)
	req.AddCookie(&http.Cookie{Name: "fm_P1", Value: "user.forged"})
	resp, _ = newPhone(t, e, "x").c.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 302 {
		t.Errorf("forged cookie: %d, want a redirect to OAuth", resp.StatusCode)
	}
}

// Before the shopper is known, an unknown photo ID and an existing one get the same answer
// (a redirect to OAuth, the same headers); after OAuth, the same 403 page as another
// shopper's photo. The page carries the anti-framing and no-sniff headers.
var stateParam = regexp.MustCompile(`state=[^&#"]*`) // random per request

func TestPhotoPageDoesNotRevealWhichIDsExist(t *testing.T) {
	e := newEnv(t)
	_, ticket := e.upload("P1")
	if _, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_alice", false, wechattest.Plain); err != nil {
		t.Fatal(err)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	type answer struct {
		status   int
		location string
		body     string
	}
	get := func(id string) (answer, http.Header) {
		resp, err := noFollow.Get(e.srv.URL + "/p/" + id)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		norm := func(s string) string {
			return stateParam.ReplaceAllString(strings.ReplaceAll(s, id, "ID"), "state=STATE")
		}
		return answer{resp.StatusCode, norm(resp.Header.Get("Location")), norm(string(b))}, resp.Header
	}
	existing, hdr := get("P1")
	unknown, _ := get("P2")
	if existing != unknown {
		t.Errorf("before OAuth: existing photo %+v, unknown %+v; want the same answer", existing, unknown)
	}
	if existing.status != http.StatusFound {
		t.Errorf("before OAuth: %d, want a redirect to OAuth", existing.status)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("photo page headers: CSP %q, X-Content-Type-Options %q", csp, hdr.Get("X-Content-Type-Options"))
	}
	_, _, other := newPhone(t, e, "o_mallory").get(e.srv.URL + "/p/P1")
	_, _, none := newPhone(t, e, "o_mallory").get(e.srv.URL + "/p/P2")
	if !bytes.Equal(other, none) {
		t.Errorf("after OAuth: another's photo says %q, an unknown one %q; want the same page", other, none)
	}
}

// The OAuth domain is verified by a file the admin console names (MP_verify_*.txt).
func TestMPVerifyFile(t *testing.T) {
	e := newEnv(t, func(o *hub.Options) { o.MPVerify = []string{"Ab12cd34"} })
	resp, err := http.Get(e.srv.URL + "/MP_verify_Ab12cd34.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "Ab12cd34" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("GET /MP_verify_Ab12cd34.txt = %d %q %s", resp.StatusCode, b, resp.Header.Get("Content-Type"))
	}
	if resp, _ := http.Get(e.srv.URL + "/MP_verify_other.txt"); resp.StatusCode != 404 {
		t.Errorf("an unconfigured MP_verify file = %d, want 404", resp.StatusCode)
	}
	for _, in := range []string{"MP_verify_Ab12cd34.txt", "Ab12cd34", " MP_verify_a.txt, b "} {
		if _, err := hub.ParseMPVerify(in); err != nil {
			t.Errorf("ParseMPVerify(%q): %v", in, err)
		}
	}
	for _, in := range []string{"../etc", "MP_verify_a b.txt", "x/y"} {
		if _, err := hub.ParseMPVerify(in); err == nil {
			t.Errorf("ParseMPVerify(%q) accepted", in)
		}
	}
	o := e.opts
	o.MPVerify = []string{"a/b"}
	if _, err := hub.New(o); err == nil || !strings.Contains(err.Error(), "MP_verify") {
		t.Errorf("hub.New with a bad MP_verify content: %v", err)
	}
}
