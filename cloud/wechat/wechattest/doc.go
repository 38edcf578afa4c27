// Package wechattest is a fake WeChat Official Account platform for tests and for
// mirror-cloud's sim mode, in the spirit of periph's gpiotest: a Server with exported fields
// you set, methods that inject failures, and counters you assert on.
//
// It enforces what the real platform documents: stable tokens that stay the same while valid,
// rotate five minutes early and are revoked at once by force_refresh; classic tokens whose
// predecessor works five more minutes; the two kinds independent; invalidation (40001) and
// expiry (42001), bad appid/secret (40013/40125), the QR daily quota (45009), scene_str length,
// ticket and url generation, showqrcode, media/upload; customer-service messages only in the
// window a user's action opened (a scan or subscribe: 3 within a minute; a message: 5 within
// 48 hours; 45015/45047) and only valid ones (known media_id 40007, one article 45008); OAuth
// links with WeChat's parameter order, #wechat_redirect, a state of at most 128 letters and
// digits and the account's OAuth domain; single-use OAuth codes (40163 when reused, 40029 when
// unknown or expired); event pushes to a callback URL, signed plain or encrypted, retried when
// the callback does not answer within 5 s (three tries in all), whose passive replies must be
// well-formed, addressed to the sender from the account, with a known media_id
// (ErrReplyRejected otherwise); and a scan by someone who neither follows nor taps Follow,
// which pushes nothing.
//
// Facts from the Official Account documentation, e.g.
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Messages.html
// and https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken.
package wechattest
