package hub_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

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
	// A used OAuth code does not work twice (single use).
	code := e.fake.AuthorizeCode("o_alice")
	if st, _, _ := newPhone(t, e, "x").get(e.srv.URL + "/p/P1?code=" + code); st != 200 {
		t.Errorf("fresh code: %d, want 200", st)
	}
	if st, _, _ := newPhone(t, e, "x").get(e.srv.URL + "/p/P1?code=" + code); st != 403 {
		t.Errorf("reused code: %d, want 403", st)
	}
	// A forged cookie does not open the photo.
	req, _ := http.NewRequest("GET", e.srv.URL+"/p/P1?raw=1", nil)
	req.AddCookie(&http.Cookie{Name: "fm_P1", Value: "user.forged"})
	resp, _ := newPhone(t, e, "x").c.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 302 {
		t.Errorf("forged cookie: %d, want a redirect to OAuth", resp.StatusCode)
	}
}

// Before the shopper is known, an unknown photo ID and an existing one get the same answer
// (a redirect to OAuth, the same headers); after OAuth, the same 403 page as another
// shopper's photo. The page carries the anti-framing and no-sniff headers.
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
		return answer{resp.StatusCode, strings.ReplaceAll(resp.Header.Get("Location"), id, "ID"), strings.ReplaceAll(string(b), id, "ID")}, resp.Header
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
