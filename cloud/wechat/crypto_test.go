package wechat_test

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/wechat"
)

// Tencent's WXBizMsgCrypt sample (docs/wechat.md): token, key, receiver id and the pushed ciphertext.
const (
	vecToken   = "QDG6eK"
	vecKey     = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	vecAppID   = "wx5823bf96d3bd56c7"
	vecTS      = "1409659813"
	vecNonce   = "1372623149"
	vecSig     = "477715d11cdb4164915debcba66cb864d751f3e6"
	vecEncrypt = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)

func TestSignatureVectors(t *testing.T) {
	tests := []struct {
		name  string
		parts []string
		want  string
	}{
		{"plain handshake", []string{"AAAAA", "1714036504", "1514711492"}, "f464b24fc39322e44b38aa78f5edd27bd1441696"},
		{"msg_signature", []string{vecToken, vecTS, vecNonce, vecEncrypt}, vecSig},
		{"order does not matter", []string{vecEncrypt, vecNonce, vecToken, vecTS}, vecSig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wechat.Signature(tt.parts...); got != tt.want {
				t.Errorf("Signature(%q) = %s, want %s", tt.parts, got, tt.want)
			}
		})
	}
}

func TestDecryptTencentVector(t *testing.T) {
	c, err := wechat.NewCipher(vecAppID, vecKey, "")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := c.Decrypt(vecEncrypt)
	if err != nil {
		t.Fatalf("Decrypt(vector): %v", err)
	}
	m, err := wechat.ParseMessage(plain)
	if err != nil {
		t.Fatalf("ParseMessage(%q): %v", plain, err)
	}
	if m.Content != "hello" || m.FromUserName != "mycreate" || m.MsgType != "text" {
		t.Errorf("decrypted vector = %+v, want a text %q from mycreate", m, "hello")
	}
	other, _ := wechat.NewCipher("wxanotherappid000", vecKey, "")
	if _, err := other.Decrypt(vecEncrypt); !errors.Is(err, wechat.ErrAppID) {
		t.Errorf("Decrypt with another appid: err = %v, want ErrAppID", err)
	}
}

func TestCallbackVector(t *testing.T) {
	cb, err := wechat.NewCallback(wechat.CallbackOptions{Token: vecToken, AppID: vecAppID, AESKey: vecKey,
		Now: func() time.Time { return time.Unix(1409659813, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	body := "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[" + vecEncrypt + "]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
	q := url.Values{"msg_signature": {vecSig}, "timestamp": {vecTS}, "nonce": {vecNonce}, "encrypt_type": {"aes"}}
	in, err := cb.Open(q, []byte(body))
	if err != nil {
		t.Fatalf("Open(vector): %v", err)
	}
	if in.Content != "hello" || !in.Encrypted {
		t.Errorf("Open(vector) = %+v, want encrypted text hello", in)
	}
}

func TestCipherRoundTripAndRotation(t *testing.T) {
	const oldKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	old, err := wechat.NewCipher("wxapp", oldKey, "")
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := wechat.NewCipher("wxapp", vecKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"", "a", strings.Repeat("x", 31), strings.Repeat("y", 32), "<xml>你好</xml>"} {
		enc, err := rotated.Encrypt([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		got, err := rotated.Decrypt(enc)
		if err != nil || string(got) != msg {
			t.Errorf("Decrypt(Encrypt(%q)) = %q, %v", msg, got, err)
		}
		// A push sealed with the previous key still opens during the rotation.
		enc, _ = old.Encrypt([]byte(msg))
		if got, err := rotated.Decrypt(enc); err != nil || string(got) != msg {
			t.Errorf("Decrypt(old-key ciphertext %q) = %q, %v", msg, got, err)
		}
		if _, err := old.Decrypt(mustEncrypt(t, rotated, msg)); err == nil {
			t.Errorf("old key opened a new-key ciphertext of %q", msg)
		}
	}
	if _, err := wechat.NewCipher("wxapp", "short", ""); err == nil {
		t.Error("NewCipher accepted a 5-character key")
	}
}

func mustEncrypt(t *testing.T, c *wechat.Cipher, msg string) string {
	t.Helper()
	enc, err := c.Encrypt([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestCallbackOpen(t *testing.T) {
	const token, appID = "tok", "wxhub"
	key := vecKey
	now := time.Unix(1_700_000_000, 0)
	cb, err := wechat.NewCallback(wechat.CallbackOptions{Token: token, AppID: appID, AESKey: key, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ev := wechat.EventXML(wechat.Message{ToUserName: "gh_x", FromUserName: "OPENID", CreateTime: now.Unix(), MsgType: "event", Event: "subscribe", EventKey: "qrscene_S1", Ticket: "T+/="})
	ci, _ := wechat.NewCipher(appID, key, "")
	wrongApp, _ := wechat.NewCipher("wxother", key, "")
	safe := func(c *wechat.Cipher, ts string) (url.Values, []byte) {
		body, enc, err := wechat.EncryptedPush(c, "gh_x", ev)
		if err != nil {
			t.Fatal(err)
		}
		return url.Values{"timestamp": {ts}, "nonce": {"42"}, "encrypt_type": {"aes"}, "msg_signature": {wechat.Signature(token, ts, "42", enc)}}, body
	}
	plainCB, err := wechat.NewCallback(wechat.CallbackOptions{Token: token, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	plainN := func(ts, nonce string) url.Values {
		return url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(token, ts, nonce)}}
	}
	plain := func(ts string) url.Values { return plainN(ts, "7") }
	other := wechat.EventXML(wechat.Message{ToUserName: "gh_x", FromUserName: "MALLORY", CreateTime: now.Unix(), MsgType: "event", Event: "SCAN", EventKey: "S9"})
	ts := "1700000000"
	sq, sbody := safe(ci, ts)
	wq, wbody := safe(wrongApp, ts)
	tampered := url.Values{}
	for k, v := range sq {
		tampered[k] = v
	}
	tampered.Set("msg_signature", strings.Repeat("0", 40))
	tests := []struct {
		name    string
		q       url.Values
		body    []byte
		wantErr error
	}{
		{"plain", plain(ts), ev, nil},
		{"plain again, same body", plain(ts), ev, nil},
		{"plain URL replayed with another body", plain(ts), other, wechat.ErrReplay},
		{"plain tampered", url.Values{"timestamp": {ts}, "nonce": {"7"}, "signature": {"bad"}}, ev, wechat.ErrSignature},
		{"plain stale", plain("1699999000"), ev, wechat.ErrStale},
		{"plain malformed", plainN(ts, "8"), []byte("<xml><FromUserName>x</xml>"), wechat.ErrMalformed},
		{"plain doctype", plainN(ts, "9"), []byte(`<!DOCTYPE xml [<!ENTITY a "b">]><xml><Content>&a;</Content></xml>`), wechat.ErrMalformed},
		{"plain to a safe-mode callback", plainN(ts, "10"), ev, wechat.ErrUnsealed},
		{"safe", sq, sbody, nil},
		{"safe tampered", tampered, sbody, wechat.ErrSignature},
		{"safe wrong appid", wq, wbody, wechat.ErrAppID},
		{"safe no Encrypt", sq, ev, wechat.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cb
			if tt.q.Get("encrypt_type") == "" && tt.wantErr != wechat.ErrUnsealed {
				c = plainCB
			}
			in, err := c.Open(tt.q, tt.body)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (in.Scene() != "S1" || in.FromUserName != "OPENID" || in.Ticket != "T+/=") {
				t.Errorf("Open = %+v, want scene S1 from OPENID", in.Message)
			}
		})
	}
	// The reply to a safe-mode push is sealed and opens with the same key and signature.
	in, _ := cb.Open(sq, sbody)
	sealed, err := cb.Seal(in, []byte("<xml>reply</xml>"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := wechat.ParseEncryptedReply(sealed)
	if err != nil || wechat.Signature(token, f.TimeStamp, f.Nonce, f.Encrypt) != f.MsgSignature || f.TimeStamp != ts {
		t.Fatalf("Seal = %s (%v): signature does not verify", sealed, err)
	}
	if got, err := ci.Decrypt(f.Encrypt); err != nil || !bytes.Equal(got, []byte("<xml>reply</xml>")) {
		t.Errorf("sealed reply decrypts to %q, %v", got, err)
	}
}

func TestHandshake(t *testing.T) {
	now := time.Unix(1714036504, 0).Add(time.Minute)
	cb, _ := wechat.NewCallback(wechat.CallbackOptions{Token: "AAAAA", Now: func() time.Time { return now }})
	q := url.Values{"timestamp": {"1714036504"}, "nonce": {"1514711492"}, "signature": {"f464b24fc39322e44b38aa78f5edd27bd1441696"}, "echostr": {"e+/cho"}}
	if got, err := cb.Handshake(q); err != nil || got != "e+/cho" {
		t.Errorf("Handshake(vector) = %q, %v; want the echostr", got, err)
	}
	q.Set("nonce", "1514711493")
	if _, err := cb.Handshake(q); !errors.Is(err, wechat.ErrSignature) {
		t.Errorf("Handshake(changed nonce) err = %v, want ErrSignature", err)
	}
	// A well-signed handshake outside the 5-minute window is a replay.
	q.Set("nonce", "1514711492")
	now = now.Add(10 * time.Minute)
	if _, err := cb.Handshake(q); !errors.Is(err, wechat.ErrStale) {
		t.Errorf("Handshake(10 minutes old) err = %v, want ErrStale", err)
	}
}

func TestScene(t *testing.T) {
	tests := []struct {
		m    wechat.Message
		want string
	}{
		{wechat.Message{MsgType: "event", Event: "subscribe", EventKey: "qrscene_abc"}, "abc"},
		{wechat.Message{MsgType: "event", Event: "SCAN", EventKey: "abc"}, "abc"},
		{wechat.Message{MsgType: "event", Event: "subscribe"}, ""}, // plain follow
		{wechat.Message{MsgType: "event", Event: "unsubscribe", EventKey: "abc"}, ""},
		{wechat.Message{MsgType: "text", Content: "qrscene_abc"}, ""},
	}
	for _, tt := range tests {
		if got := tt.m.Scene(); got != tt.want {
			t.Errorf("%+v.Scene() = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(`<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[O]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_S]]></EventKey></xml>`))
	f.Add([]byte(`<xml><Encrypt>abc</Encrypt></xml>`))
	f.Add([]byte(`<!DOCTYPE x><xml/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := wechat.ParseMessage(data)
		if err != nil {
			if !errors.Is(err, wechat.ErrMalformed) {
				t.Fatalf("ParseMessage error %v is not ErrMalformed", err)
			}
			return
		}
		// What parses re-renders and parses to the same event fields.
		m2, err := wechat.ParseMessage(wechat.EventXML(m))
		if err != nil {
			t.Fatalf("ParseMessage(EventXML(%+v)): %v", m, err)
		}
		if m2.FromUserName != m.FromUserName || m2.EventKey != m.EventKey || m2.CreateTime != m.CreateTime {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	c, _ := wechat.NewCipher(vecAppID, vecKey, "")
	f.Add(vecEncrypt)
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAA==")
	f.Fuzz(func(t *testing.T, s string) {
		msg, err := c.Decrypt(s)
		if err != nil {
			if !errors.Is(err, wechat.ErrDecrypt) && !errors.Is(err, wechat.ErrAppID) {
				t.Fatalf("Decrypt error %v is neither ErrDecrypt nor ErrAppID", err)
			}
			return
		}
		enc, err := c.Encrypt(msg)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := c.Decrypt(enc); err != nil || !bytes.Equal(back, msg) {
			t.Fatalf("re-encrypted message does not round-trip: %v", err)
		}
	})
}

// BenchmarkOpenSafe is the callback's crypto per push: msg_signature, AES-CBC decrypt, XML.
func BenchmarkOpenSafe(b *testing.B) {
	cb, _ := wechat.NewCallback(wechat.CallbackOptions{Token: vecToken, AppID: vecAppID, AESKey: vecKey,
		Now: func() time.Time { return time.Unix(1409659813, 0) }})
	q := url.Values{"msg_signature": {vecSig}, "timestamp": {vecTS}, "nonce": {vecNonce}, "encrypt_type": {"aes"}}
	body := []byte("<xml><Encrypt><![CDATA[" + vecEncrypt + "]]></Encrypt></xml>")
	for b.Loop() {
		if _, err := cb.Open(q, body); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseMessageDirectives(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{`<xml><Content><![CDATA[<!DOCTYPE is just text here]]></Content></xml>`, false},
		{`<!-- a comment --><xml><Content>x</Content></xml>`, false},
		{`<!DOCTYPE xml><xml><Content>x</Content></xml>`, true},
		{`<xml><!ENTITY a "b"><Content>x</Content></xml>`, true},
		{`<xml><Content>x</Content></xml><xml/>`, true},
	}
	for _, tt := range tests {
		_, err := wechat.ParseMessage([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseMessage(%q) err = %v, want error %v", tt.in, err, tt.wantErr)
		}
	}
}
