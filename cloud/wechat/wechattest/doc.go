// Package wechattest is a fake WeChat Official Account platform for tests and for
// mirror-cloud's sim mode, in the spirit of periph's gpiotest: a Server with exported fields
// you set, methods that inject failures, and counters you assert on.
//
// It enforces what the real platform does and WECHAT.md records: stable tokens that stay the
// same while valid and rotate five minutes early, invalidation (40001) and expiry (42001),
// bad appid/secret (40013/40125), the QR daily quota (45009), scene_str length, ticket and url
// generation, showqrcode, media/upload, the custom-message window (45015/45047), single-use
// OAuth codes (40029), and event pushes to a callback URL, signed plain or encrypted, retried
// when the callback does not answer within 5 s (three tries in all).
package wechattest
