package display

// Wording is what the QR and bound scenes say about where the photo goes, which depends on
// the QR provider: through WeChat (the hub), or straight to the phone's browser (the local
// photo page, no WeChat account). Chinese first, as every screen of the mirror.
type Wording struct {
	ScanZh1, ScanZh2 string // the QR scene's caption, in two phrases that may wrap apart
	ScanEn           string
	BoundZh, BoundEn string // the bound scene
}

// The wordings of the two providers.
var (
	WordingWeChat = Wording{ScanZh1: "微信扫码，", ScanZh2: "照片发送到你的微信", ScanEn: "Scan with WeChat to get your photo",
		BoundZh: "已发送到你的微信 ✓", BoundEn: "Sent to your WeChat"}
	WordingLocal = Wording{ScanZh1: "用手机扫码，", ScanZh2: "在手机上打开照片", ScanEn: "Scan with your phone to open your photo",
		BoundZh: "照片已在你的手机上打开 ✓", BoundEn: "Opened on your phone"}
)

// WordingFor is the wording of a QR provider ("hub" or "local"); anything else is WeChat's.
func WordingFor(provider string) Wording {
	if provider == "local" {
		return WordingLocal
	}
	return WordingWeChat
}

// Or returns w, or WeChat's wording when w is the zero Wording.
func (w Wording) Or() Wording {
	if w == (Wording{}) {
		return WordingWeChat
	}
	return w
}
