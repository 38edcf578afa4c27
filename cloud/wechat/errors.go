package wechat

import (
	"errors"
	"fmt"
)

// Error is an errcode returned by the WeChat API.
type Error struct {
	Code int    // errcode
	Msg  string // errmsg
	Op   string // the API call, e.g. "qrcode/create"
}

func (e *Error) Error() string {
	if e.Op != "" {
		return fmt.Sprintf("wechat: %s: errcode %d: %s", e.Op, e.Code, e.Msg)
	}
	return fmt.Sprintf("wechat: errcode %d: %s", e.Code, e.Msg)
}

// Retryable reports whether the same call may succeed later without a change of
// configuration: system busy (-1), the minute quota (45011), and invalid or expired tokens,
// which the client already retries once with a fresh token.
func (e *Error) Retryable() bool {
	switch e.Code {
	case CodeBusy, CodeMinuteQuota:
		return true
	}
	return e.TokenInvalid()
}

// TokenInvalid reports whether the access token used was rejected (40001, 40014, 42001).
func (e *Error) TokenInvalid() bool {
	switch e.Code {
	case CodeInvalidCredential, CodeInvalidToken, CodeTokenExpired:
		return true
	}
	return false
}

// Errcodes the client and the hub branch on (docs/wechat.md).
const (
	CodeBusy              = -1
	CodeInvalidCredential = 40001 // access_token invalid (or the secret, for token calls)
	CodeInvalidAppID      = 40013
	CodeInvalidToken      = 40014
	CodeInvalidCode       = 40029 // OAuth code invalid or used
	CodeInvalidSecret     = 40125
	CodeIPNotWhitelisted  = 40164
	CodeSecretFrozen      = 40243
	CodeTokenExpired      = 42001
	CodeDailyQuota        = 45009
	CodeMinuteQuota       = 45011
	CodeOutsideWindow     = 45015
	CodeTooManyMessages   = 45047
	CodeInvalidParam      = 40097 // scene or expire_seconds out of range
	CodeInvalidMediaType  = 40004
	CodeMediaTooLarge     = 40006
)

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Callback errors; the hub maps ErrSignature, ErrStale, ErrUnsealed and ErrReplay to 401 and
// the others to 400.
var (
	ErrSignature = errors.New("wechat: bad signature")
	ErrStale     = errors.New("wechat: timestamp outside the replay window")
	ErrUnsealed  = errors.New("wechat: plain push refused")
	ErrReplay    = errors.New("wechat: push URL replayed with another body")
	ErrMalformed = errors.New("wechat: malformed message")
	ErrAppID     = errors.New("wechat: ciphertext is for another appid")
	ErrDecrypt   = errors.New("wechat: cannot decrypt")
)

// Errcodes a deployment meets, beyond the ones the client branches on.
const (
	CodeCodeExpired    = 42003 // OAuth code expired (5 minutes)
	CodeCodeUsed       = 40163 // OAuth code already used
	CodeUnauthorized   = 48001 // API not authorised for this account type
	CodeInvalidMediaID = 40007
	CodeRequireFollow  = 43004
	CodeInvalidOpenID  = 40003
)

// hints are what an operator should do about an errcode, from the Official Account
// documentation of global return codes and of each API.
var hints = map[int]string{
	CodeBusy:              "WeChat is busy; the call is retried",
	CodeInvalidCredential: "access_token rejected: another program fetched a classic token for this appid (every fetch replaces it) or the AppSecret was reset; let only this hub fetch tokens (it uses the stable token)",
	40002:                 "grant_type must be client_credential",
	CodeInvalidOpenID:     "the openid is not a follower of this account",
	CodeInvalidMediaType:  "media type must be image",
	40005:                 "the file is not a JPEG or PNG",
	CodeMediaTooLarge:     "image over 2 MB",
	CodeInvalidMediaID:    "media_id unknown or older than 3 days: upload the image again",
	40008:                 "message type unknown",
	CodeInvalidAppID:      "wechat.appid is not this account's AppID (设置与开发 → 基本配置)",
	CodeInvalidToken:      "access_token malformed",
	CodeInvalidCode:       "OAuth code invalid or expired: open the link from WeChat again",
	CodeInvalidParam:      "invalid argument (scene_str of 1-64 characters, expire_seconds up to 2592000)",
	CodeInvalidSecret:     "wechat.secret is not this account's AppSecret (reset it under 设置与开发 → 基本配置 and update the hub)",
	CodeCodeUsed:          "OAuth code already used: the photo page authorises again",
	CodeIPNotWhitelisted:  "this server's public IP is not on the account's IP whitelist (设置与开发 → 基本配置 → IP白名单)",
	CodeSecretFrozen:      "the AppSecret is frozen: unfreeze it in the admin console",
	41001:                 "access_token missing",
	CodeTokenExpired:      "access_token expired; the hub fetches a new one",
	CodeCodeExpired:       "OAuth code expired (valid 5 minutes): open the link from WeChat again",
	CodeRequireFollow:     "the user does not follow the account",
	45008:                 "a news message carries exactly one article",
	CodeDailyQuota:        "daily API quota reached (qrcode/create: 100000 a day); it resets at midnight Beijing time, or clear it in the admin console",
	CodeMinuteQuota:       "API calls too frequent; wait a minute",
	CodeOutsideWindow:     "customer-service message outside the window (a scan or follow allows 3 within 1 minute)",
	CodeTooManyMessages:   "too many customer-service messages for this user (3 within a minute after a scan)",
	CodeUnauthorized:      "this API is not authorised for the account: parametric QR codes, customer-service messages and web OAuth need a verified service account (认证服务号)",
	50001:                 "the user has not authorised this API",
	50002:                 "the user is restricted",
}

// Hint returns what to do about errcode, or "" when there is nothing more to say than its
// errmsg.
func Hint(code int) string { return hints[code] }

// Explain describes err on one line for an operator: a WeChat errcode with what to do about
// it, or err itself.
func Explain(err error) string {
	e, ok := AsError(err)
	if !ok {
		return err.Error()
	}
	if h := Hint(e.Code); h != "" {
		return fmt.Sprintf("%s — %s", e.Error(), h)
	}
	return e.Error()
}
