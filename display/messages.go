package display

// Message codes: what the session engine says on a Screen (Screen.Code), in no language.
// The renderers show the words for a code (Screen.Text): the engine holds no UI text.
const (
	// MsgCaptureFailed: the camera did not give a photo; the shopper may try again.
	MsgCaptureFailed = "capture_failed"
	// MsgQRUnavailable: the QR provider is down; the engine asks again every QRRetry while the
	// session is open and shows the code when it comes. It promises nothing more: a photo
	// whose shopper leaves before the provider is back is purged like any unscanned photo.
	MsgQRUnavailable = "qr_unavailable"
)

// messages are the words of each code, Chinese first, as every screen of the mirror.
var messages = map[string]string{
	MsgCaptureFailed: "拍照失败，请再试一次 · The photo failed, please try again",
	MsgQRUnavailable: "二维码暂时无法生成，正在重试 · QR code unavailable right now; trying again",
}

// Text is the message a renderer shows for s: its Message when set, else the words of its
// Code ("" for none or an unknown code).
func (s Screen) Text() string {
	if s.Message != "" {
		return s.Message
	}
	return messages[s.Code]
}
