package wire

// The hub's HTTP API for mirrors (docs/contracts.md §2): the request and answer bodies, the
// same types on both sides (cloud/hub and cloud/hubclient).

import "net/url"

// Error codes of the hub's HTTP API, in [APIError] with the HTTP status named.
const (
	CodeBadRequest        = "bad_request"        // 400
	CodeUnauthorized      = "unauthorized"       // 401: no or unknown device token
	CodeNotFound          = "not_found"          // 404
	CodeConflict          = "conflict"           // 409
	CodeTooLarge          = "too_large"          // 413
	CodeUnsupportedMedia  = "unsupported_media"  // 415: the photo is not a JPEG the hub accepts
	CodeInvalidPhoto      = "invalid_photo"      // 422: a JPEG over the photo limits, or that does not decode
	CodeRateLimited       = "rate_limited"       // 429
	CodeWeChatError       = "wechat_error"       // 502: WeChat refused; the message has its errcode
	CodeUnavailable       = "unavailable"        // 503: the hub's store is unavailable
	CodeWeChatUnavailable = "wechat_unavailable" // 503: WeChat is unreachable
)

// APIError is the body of every refusal of the hub's (and the agent's) HTTP API:
// {"error":{"code":…,"message":…}}.
type APIError struct {
	Error Error `json:"error"`
}

// PhotoUploaded answers PUT /v1/photos/{photo_id} (201 created, 200 already stored).
type PhotoUploaded struct {
	PhotoID string `json:"photo_id"`
	SHA256  string `json:"sha256"` // hex
	Size    int64  `json:"size"`   // bytes
}

// Limits of [QRRequest].ExpireSeconds; DefaultQRExpireSeconds when it is absent.
const (
	MinQRExpireSeconds     = 60
	MaxQRExpireSeconds     = 2592000 // 30 days, WeChat's limit
	DefaultQRExpireSeconds = 300
)

// QRRequest is the body of POST /v1/qrcodes.
type QRRequest struct {
	PhotoID       string `json:"photo_id"`
	ExpireSeconds *int   `json:"expire_seconds,omitempty"` // nil = DefaultQRExpireSeconds
	// Scene is optional (1-64 printable ASCII characters, no spaces): the hub picks a fresh
	// one when it is empty.
	Scene string `json:"scene,omitempty"`
}

// QRCode answers POST /v1/qrcodes (201): a WeChat QR code bound to the photo.
type QRCode struct {
	Scene     string `json:"scene"`
	Ticket    string `json:"ticket"`
	URL       string `json:"url"` // what the QR encodes, http://weixin.qq.com/q/…
	ExpiresAt Time   `json:"expires_at"`
}

// PendingBindings answers GET /v1/bindings: the device's unacknowledged bindings, oldest first.
type PendingBindings struct {
	Bindings []Binding `json:"bindings"`
}

// MaxAckBindings bounds [AckRequest].BindingIDs.
const MaxAckBindings = 100

// AckRequest is the body of POST /v1/bindings/ack.
type AckRequest struct {
	BindingIDs []string `json:"binding_ids"` // 1..MaxAckBindings
}

// AckResult answers POST /v1/bindings/ack: how many bindings this call acknowledged (repeats
// and unknown IDs are not counted).
type AckResult struct {
	Acked int `json:"acked"`
}

// ReleasePath is where a device fetches a software release (GET, with its token): the URL
// of its update command.
func ReleasePath(version, arch string) string {
	return "/v1/releases/" + url.PathEscape(version) + "/" + url.PathEscape(arch)
}
