// Package photopage is the one page a shopper's phone opens after scanning: the photo with a
// save button, or a one-line message (expired, gone, open in WeChat). The hub's page
// (cloud/hub) and the mirror's LAN page (cloud/local) both write it.
package photopage

import (
	"html/template"
	"net/http"

	"github.com/fitmirror/fitmirror/internal/httpguard"
)

var tmpl = template.Must(template.New("p").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}}</title>
<style>body{margin:0;background:#111;color:#eee;font:18px/1.5 "PingFang SC","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;text-align:center}
h1{font-size:22px;margin:24px 16px 4px}p{margin:0 16px 16px;color:#aaa}
img{max-width:100%;display:block;margin:0 auto;-webkit-touch-callout:default;-webkit-user-select:auto;user-select:auto}
a{display:inline-block;margin:20px;padding:12px 28px;border-radius:24px;background:#eee;color:#111;text-decoration:none}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Text}}</p>
{{if .Img}}<img src="{{.Img}}" alt="{{.Title}}">{{if .Download}}<a href="{{.Download}}">保存照片 · Save</a>{{end}}{{end}}
{{if .More}}<a href="{{.More}}">{{.MoreText}}</a>{{end}}
</body></html>`))

type page struct{ Title, Text, Img, Download, More, MoreText string }

// CSP is the page's Content-Security-Policy: its own images and inline style, nothing else,
// and no framing by another site (clickjacking).
const CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

func write(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Security-Policy", CSP)
	httpguard.SetPageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	tmpl.Execute(w, p)
}

// Message writes a page with a title and one line of text (both shown as text, escaped).
func Message(w http.ResponseWriter, status int, title, text string) {
	write(w, status, page{Title: title, Text: text})
}

// Photo writes the photo page (200): the image at img (a long press saves it) and, when
// download is not empty, a save button linking to it (not in WeChat's in-app browser, which
// mishandles downloads).
func Photo(w http.ResponseWriter, title, text, img, download string) {
	write(w, http.StatusOK, page{Title: title, Text: text, Img: img, Download: download})
}

// PhotoWithMore is Photo with a link below it: more (a path of the same site) labelled text,
// such as the shopper's gallery.
func PhotoWithMore(w http.ResponseWriter, title, text, img, more, moreText string) {
	write(w, http.StatusOK, page{Title: title, Text: text, Img: img, More: more, MoreText: moreText})
}
