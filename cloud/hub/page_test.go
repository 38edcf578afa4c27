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
		{"unknown photo", "o_alice", "/p/NOPE", 404},
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
