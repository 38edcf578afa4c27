package hubsim

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/wechat"
)

// The simulator's OAuth page redirects only under public_url, also when public_url has a
// path: a sibling path or a climb out of it with .. is elsewhere.
func TestUnderPublic(t *testing.T) {
	public, _ := url.Parse("https://hub.example/shop")
	for _, tt := range []struct {
		raw string
		ok  bool
	}{
		{"https://hub.example/shop", true},
		{"https://HUB.example/shop/p/P1?x=1", true},
		{"https://hub.example/shopping/p/P1", false},
		{"https://hub.example/shop/../admin", false},
		{"http://hub.example/shop/p/P1", false},
		{"https://user@hub.example/shop/p/P1", false},
		{"https://evil.example/shop/p/P1", false},
		{"/shop/p/P1", false},
		{"%zz", false},
	} {
		if got := underPublic(public, tt.raw); got != tt.ok {
			t.Errorf("underPublic(%q) = %v, want %v", tt.raw, got, tt.ok)
		}
	}
}

// A code the simulator issued survives a restart when it keeps them (Keep): a new simulator
// on the same file knows it by its URL, as WeChat would; expired codes and lines that are not
// records are left out, the latter with an error naming the file.
func TestKeepOutlivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sim-codes.jsonl")
	issue := func(s *Sim) wechat.QRTicket {
		c, err := wechat.NewClient(wechat.Options{BaseURL: "http://wechat.sim", AppID: "wxsim", Secret: "s", HTTPClient: s.Client()})
		if err != nil {
			t.Fatal(err)
		}
		qr, err := c.CreateQR(t.Context(), "P1-scene", 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return qr
	}
	first := New("wxsim", "s", "tok", "")
	if err := first.Keep(path); err != nil {
		t.Fatal(err)
	}
	qr := issue(first)
	first.Close()

	second := New("wxsim", "s", "tok2", "")
	if err := second.Keep(path); err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if tk, ok := second.Fake.TicketByURL(qr.URL); !ok || tk.Scene != "P1-scene" {
		t.Fatalf("after a restart the code %s is %+v, %v; want its scene P1-scene", qr.URL, tk, ok)
	}

	// An expired record and a broken line.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"Ticket":"old","Scene":"P0","URL":"http://weixin.qq.com/q/old","Expires":"2020-01-01T00:00:00Z"}` + "\n" + "not json\n")
	f.Close()
	third := New("wxsim", "s", "tok3", "")
	err := third.Keep(path)
	defer third.Close()
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Keep with a broken line = %v, want an error naming %s", err, path)
	}
	if _, ok := third.Fake.TicketByURL("http://weixin.qq.com/q/old"); ok {
		t.Error("an expired code came back")
	}
	if _, ok := third.Fake.TicketByURL(qr.URL); !ok {
		t.Error("the live code was lost with the broken line")
	}
}
