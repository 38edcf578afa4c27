// Package wechat speaks to the WeChat Official Account platform on behalf of mirror-cloud.
//
// The API side is a [Client]: a stable access token (/cgi-bin/stable_token) cached and
// refreshed ahead of expiry by one caller at a time, QR_STR_SCENE tickets, media/upload,
// message/custom/send and the web OAuth code exchange. WeChat's errcodes come back as *[Error],
// whose Retryable method tells a caller whether trying again can help.
//
// The callback side is a [Callback]: the plain signature check and echostr handshake, safe
// mode (encrypt_type=aes) decryption and encryption with the previous EncodingAESKey as a
// fallback during key rotation, the event XML, and a replay window on timestamp.
//
// Every URL is relative to a configurable base so that tests point the client at the fake in
// cloud/wechat/wechattest. The protocol facts this package honours are collected in
// docs/wechat.md.
package wechat
