package hub_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// galleryCall sends a gallery API request with the phone's cookies (and the CSRF token).
func (p *phone) galleryCall(method, u, csrf string) (int, []byte) {
	p.t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := p.c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// galleryOf opens /me as the phone and returns the page and its CSRF token.
func galleryOf(t *testing.T, e *env, p *phone) (string, string) {
	t.Helper()
	st, h, b := p.get(e.srv.URL + "/me")
	if st != 200 || !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /me = %d %v", st, h)
	}
	m := csrfMeta.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no csrf-token meta in %s", b)
	}
	return string(b), string(m[1])
}

func photoIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var v struct{ Photos []hub.GalleryPhoto }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	var out []string
	for _, p := range v.Photos {
		if p.DaysLeft != 7 || !strings.Contains(p.Thumb, "/t/") || !strings.HasSuffix(p.Page, "/p/"+p.ID) {
			t.Errorf("gallery photo %+v", p)
		}
		out = append(out, p.ID)
	}
	return out
}

// TestGallery: a shopper who scanned three photos on two mirrors sees all three at /me and in
// GET /me/photos, newest first; another shopper sees none; deleting one makes its page and
// thumbnail answer like an unknown photo, removes the file and tells its mirror; "delete all"
// empties the gallery and the photo storage. Without the cookie or the CSRF token nothing is
// deleted, and another shopper's photo cannot be deleted (it answers like an unknown one).
func TestGallery(t *testing.T) {
	e := newEnv(t)
	m2, err := hub.AddDevice(t.Context(), e.store, "m2", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var tickets []string
	for _, p := range []struct{ id, token string }{{"P1", e.creds.Token}, {"P2", e.creds.Token}, {"P3", m2.Token}} {
		if st, b := e.do("PUT", "/v1/photos/"+p.id, "image/jpeg", face(t), p.token); st != 201 {
			t.Fatalf("PUT %s = %d %s", p.id, st, b)
		}
		st, b := e.do("POST", "/v1/qrcodes", "application/json", []byte(`{"photo_id":"`+p.id+`","expire_seconds":300}`), p.token)
		if st != 201 {
			t.Fatalf("QR %s = %d %s", p.id, st, b)
		}
		var qr struct{ Ticket string }
		json.Unmarshal(b, &qr)
		tickets = append(tickets, qr.Ticket)
		time.Sleep(5 * time.Millisecond) // distinct upload times
	}
	for _, tk := range tickets {
		if _, err := e.fake.Scan(t.Context(), e.callbackURL(), tk, "o_alice", true, wechattest.Safe); err != nil {
			t.Fatal(err)
		}
	}
	alice, bob := newPhone(t, e, "o_alice"), newPhone(t, e, "o_bob")
	page, csrf := galleryOf(t, e, alice)
	if n := strings.Count(page, `data-photo="`); n != 3 || !strings.Contains(page, "m1 · ") || !strings.Contains(page, "m2 · ") {
		t.Errorf("alice's gallery shows %d photos:\n%s", n, page)
	}
	if strings.Contains(page, "http://") && !strings.Contains(page, e.srv.URL) {
		t.Errorf("the gallery refers to another origin:\n%s", page)
	}
	if st, _, b := alice.get(e.srv.URL + "/p/P1"); st != 200 || !bytes.Contains(b, []byte(`<a href="/me">我的全部试衣照片 (3)`)) {
		t.Errorf("P1's page does not link to the gallery of 3: %d %s", st, b)
	}
	// A scan of a code that expired and was purged: the text reply links to the gallery.
	gone := wechat.Message{ToUserName: e.fake.OpenAccount, FromUserName: "o_alice", CreateTime: time.Now().Unix(), MsgType: "event", Event: "SCAN",
		EventKey: "01jexpzrzdpzrgzdsczne0000a"}
	if res, err := e.fake.Push(t.Context(), e.callbackURL(), gone, wechattest.Safe); err != nil || !bytes.Contains(res.Reply, []byte(`/me">我的试衣照片 · My fitting photos (3)</a>`)) {
		t.Errorf("reply to an expired code = %s, %v; want a link to the gallery of 3", res.Reply, err)
	}
	st, b := alice.galleryCall("GET", e.srv.URL+"/me/photos", "")
	if ids := photoIDs(t, b); st != 200 || strings.Join(ids, ",") != "P3,P2,P1" {
		t.Fatalf("GET /me/photos = %d %v, want P3,P2,P1", st, ids)
	}
	bobPage, bobCSRF := galleryOf(t, e, bob)
	if strings.Contains(bobPage, `data-photo="`) || !strings.Contains(bobPage, "No photos yet") {
		t.Errorf("bob's gallery:\n%s", bobPage)
	}
	if st, b := bob.galleryCall("GET", e.srv.URL+"/me/photos", ""); st != 200 || len(photoIDs(t, b)) != 0 {
		t.Errorf("bob's /me/photos = %d %s", st, b)
	}
	// What must not delete anything.
	stranger := newPhone(t, e, "o_nobody")
	for _, tt := range []struct {
		who        *phone
		path, csrf string
		want       int
	}{
		{stranger, "/me/photos/P1", "", 401},   // no gallery cookie
		{alice, "/me/photos/P1", "", 403},      // no CSRF token
		{alice, "/me/photos/P1", bobCSRF, 403}, // bob's token
		{bob, "/me/photos/P1", bobCSRF, 404},   // alice's photo: like an unknown one
		{bob, "/me/photos/NOPE", bobCSRF, 404}, // unknown
		{alice, "/me/photos/a%20b", csrf, 404}, // not a photo ID
	} {
		if st, b := tt.who.galleryCall("DELETE", e.srv.URL+tt.path, tt.csrf); st != tt.want {
			t.Errorf("DELETE %s (%s) = %d %s, want %d", tt.path, tt.who.openid, st, b, tt.want)
		}
	}
	thumb := regexp.MustCompile(`src="(http[^"]+/t/P2\.[^"]+)"`).FindStringSubmatch(page)
	if thumb == nil {
		t.Fatalf("no thumbnail of P2 in\n%s", page)
	}
	if st, _, _ := alice.get(thumb[1]); st != 200 {
		t.Fatalf("P2's thumbnail = %d before the deletion", st)
	}
	if st, b := alice.galleryCall("DELETE", e.srv.URL+"/me/photos/P2", csrf); st != 200 || !bytes.Contains(b, []byte(`"deleted":1`)) {
		t.Fatalf("DELETE P2 = %d %s", st, b)
	}
	if st, _, _ := alice.get(e.srv.URL + "/p/P2"); st != 403 {
		t.Errorf("P2's page after the deletion = %d, want 403 as for an unknown photo", st)
	}
	if st, _, _ := alice.get(thumb[1]); st != 404 {
		t.Errorf("P2's thumbnail after the deletion = %d, want 404", st)
	}
	var forget wire.CommandRequest
	for _, m := range e.pub.all() {
		if m.Topic == "mirror/m1/cmd/"+wire.CmdForgetPhotos {
			json.Unmarshal(m.Payload, &forget)
		}
	}
	if !bytes.Contains(forget.Args, []byte(`"photo_ids":["P2"]`)) {
		t.Errorf("m1 was not told to forget P2: %s", forget.Args)
	}
	if st, b := alice.galleryCall("DELETE", e.srv.URL+"/me/photos", csrf); st != 200 || !bytes.Contains(b, []byte(`"deleted":2`)) {
		t.Fatalf("DELETE all = %d %s", st, b)
	}
	if st, b := alice.galleryCall("GET", e.srv.URL+"/me/photos", ""); st != 200 || len(photoIDs(t, b)) != 0 {
		t.Errorf("/me/photos after delete all = %d %s", st, b)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dir, "photos")); len(ents) != 0 {
		t.Errorf("%d files left in the photo storage after delete all", len(ents))
	}
}

// TestUnfollowDeletesPhotos: an unsubscribe deletes the shopper's photos (the default), a
// repeated one is harmless; with on_unsubscribe keep they stay. Product scans, a subscribe
// with a product code's key and an unknown event get "success".
func TestUnfollowDeletesPhotos(t *testing.T) {
	for _, mode := range []string{hub.UnsubscribeDelete, hub.UnsubscribeKeep} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, func(o *hub.Options) { o.OnUnsubscribe = mode })
			_, ticket := e.upload("P1")
			if _, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_dave", true, wechattest.Safe); err != nil {
				t.Fatal(err)
			}
			for i := range 2 { // the second is a late repeat
				m := wechat.Message{ToUserName: e.fake.OpenAccount, FromUserName: "o_dave", CreateTime: time.Now().Unix() + int64(i), MsgType: "event", Event: "unsubscribe"}
				if res, err := e.fake.Push(t.Context(), e.callbackURL(), m, wechattest.Safe); err != nil || res.Status != 200 || res.Attempts != 1 {
					t.Fatalf("unsubscribe %d: %+v %v", i, res, err)
				}
			}
			_, err := e.store.Photo(t.Context(), "P1")
			if kept := err == nil; kept != (mode == hub.UnsubscribeKeep) {
				t.Errorf("on_unsubscribe %s: photo kept = %v", mode, kept)
			}
		})
	}
	e := newEnv(t)
	for _, m := range []wechat.Message{
		{MsgType: "event", Event: "user_scan_product", EventKey: "ean13|6901234567892|keystr|extinfo"},
		{MsgType: "event", Event: "user_scan_product_enter_session", EventKey: "ean13|6901234567892"},
		{MsgType: "event", Event: "subscribe", EventKey: "qrscene_ean13|6901234567892|keystr|extinfo"},
		{MsgType: "event", Event: "user_scan_product_verify_action"},
		{MsgType: "event", Event: "something_new"},
	} {
		m.ToUserName, m.FromUserName, m.CreateTime = e.fake.OpenAccount, "o_erin", time.Now().Unix()
		res, err := e.fake.Push(t.Context(), e.callbackURL(), m, wechattest.Safe)
		if err != nil || res.Status != 200 || res.Attempts != 1 || (len(res.Reply) > 0 && string(res.Reply) != "success") {
			t.Errorf("%s %q: %+v %v, want one try answered success", m.Event, m.EventKey, res, err)
		}
	}
}
