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

// Callback errors; the hub maps ErrSignature to 401 and the others to 400.
var (
	ErrSignature = errors.New("wechat: bad signature")
	ErrStale     = errors.New("wechat: timestamp outside the replay window")
	ErrMalformed = errors.New("wechat: malformed message")
	ErrAppID     = errors.New("wechat: ciphertext is for another appid")
	ErrDecrypt   = errors.New("wechat: cannot decrypt")
)
