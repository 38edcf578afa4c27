package wechat_test

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
)

// The callback handshake: WeChat signs token, timestamp and nonce.
func ExampleSignature() {
	fmt.Println(wechat.Signature("AAAAA", "1714036504", "1514711492"))
	// Output: f464b24fc39322e44b38aa78f5edd27bd1441696
}

// A QR code for a photo, against the fake platform.
func ExampleClient_CreateQR() {
	fake := wechattest.New("wxappid", "secret")
	srv := fake.Start()
	defer srv.Close()
	c, _ := wechat.NewClient(wechat.Options{BaseURL: srv.URL, AppID: "wxappid", Secret: "secret"})
	t, err := c.CreateQR(context.Background(), "01JD7Q4ZQ0PHOTO", 5*time.Minute)
	fmt.Println(err, t.ExpireSeconds, len(t.URL) > len("http://weixin.qq.com/q/"))
	// Output: <nil> 300 true
}

// Opening a safe-mode push: Tencent's sample message.
func ExampleCallback_Open() {
	cb, _ := wechat.NewCallback(wechat.CallbackOptions{Token: vecToken, AppID: vecAppID, AESKey: vecKey,
		Now: func() time.Time { return time.Unix(1409659813, 0) }})
	q := url.Values{"msg_signature": {vecSig}, "timestamp": {vecTS}, "nonce": {vecNonce}, "encrypt_type": {"aes"}}
	in, err := cb.Open(q, []byte("<xml><Encrypt><![CDATA["+vecEncrypt+"]]></Encrypt></xml>"))
	fmt.Println(err, in.FromUserName, in.Content)
	// Output: <nil> mycreate hello
}
