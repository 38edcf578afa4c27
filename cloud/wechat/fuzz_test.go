package wechat_test

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/wechat"
)

// A push as WeChat sends it, for the seeds.
const seedPush = `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>` +
	`<CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event>` +
	`<EventKey><![CDATA[p:01JD0000000000000000000000]]></EventKey><Ticket><![CDATA[t]]></Ticket></xml>`

var fuzzNow = time.Unix(1700000000, 0)

// pushErrors are the errors Open may answer a push with (each maps to 400 or 401).
var pushErrors = []error{wechat.ErrSignature, wechat.ErrStale, wechat.ErrUnsealed, wechat.ErrReplay,
	wechat.ErrMalformed, wechat.ErrAppID, wechat.ErrDecrypt}

func isPushError(err error) bool {
	for _, e := range pushErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzOpenPlain posts any body with a valid plain-mode signature: Open decodes it as
// ParseMessage does, or refuses it with one of the push errors.
func FuzzOpenPlain(f *testing.F) {
	f.Add([]byte(seedPush))
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := wechat.NewCallback(wechat.CallbackOptions{Token: "tok", Now: func() time.Time { return fuzzNow }})
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{"timestamp": {"1700000000"}, "nonce": {"n1"}, "signature": {wechat.Signature("tok", "1700000000", "n1")}}
		in, err := cb.Open(q, body)
		want, werr := wechat.ParseMessage(body)
		switch {
		case err != nil && !isPushError(err):
			t.Fatalf("Open = %v, not a push error", err)
		case (err == nil) != (werr == nil):
			t.Fatalf("Open = %v, ParseMessage = %v", err, werr)
		case err == nil && !reflect.DeepEqual(in.Message, want):
			t.Fatalf("Open = %+v, ParseMessage = %+v", in.Message, want)
		}
	})
}

// FuzzOpenSafe covers safe mode twice over: any plaintext sealed with the real key opens to
// what ParseMessage makes of it, and any Encrypt element (properly signed, so that it reaches
// the decryption) is refused with ErrDecrypt, ErrAppID or ErrMalformed, never a panic.
func FuzzOpenSafe(f *testing.F) {
	f.Add([]byte(seedPush), "")
	f.Add([]byte("not xml"), vecEncrypt)
	f.Add([]byte(""), "AAAAAAAAAAAAAAAAAAAAAA==")
	f.Fuzz(func(t *testing.T, plain []byte, encrypt string) {
		cb, err := wechat.NewCallback(wechat.CallbackOptions{Token: vecToken, AppID: vecAppID, AESKey: vecKey, Now: func() time.Time { return fuzzNow }})
		if err != nil {
			t.Fatal(err)
		}
		ci, _ := wechat.NewCipher(vecAppID, vecKey, "")
		ts, nonce := "1700000000", "n1"
		sealed, err := wechat.SealReply(ci, vecToken, ts, nonce, plain)
		if err != nil {
			t.Fatal(err)
		}
		env, err := wechat.ParseEncryptedReply(sealed)
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "encrypt_type": {"aes"}, "msg_signature": {env.MsgSignature}}
		in, err := cb.Open(q, sealed)
		want, werr := wechat.ParseMessage(plain)
		if (err == nil) != (werr == nil) || (err == nil && !reflect.DeepEqual(in.Message, want)) {
			t.Fatalf("sealed %q: Open = %+v, %v; ParseMessage = %+v, %v", plain, in.Message, err, want, werr)
		}
		if strings.ContainsAny(encrypt, "]<>&") {
			return // not CDATA-safe: the envelope would be another document
		}
		body := []byte("<xml><Encrypt><![CDATA[" + encrypt + "]]></Encrypt></xml>")
		q.Set("msg_signature", wechat.Signature(vecToken, ts, nonce, encrypt))
		if _, err := cb.Open(q, body); err != nil && !isPushError(err) {
			t.Fatalf("Encrypt %q: Open = %v, not a push error", encrypt, err)
		}
	})
}
