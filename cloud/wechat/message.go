package wechat

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// Message is a message or event pushed to the callback URL. Only the fields the hub uses are
// decoded; Encrypt is set in safe mode before decryption.
type Message struct {
	ToUserName   string `xml:"ToUserName"`
	FromUserName string `xml:"FromUserName"` // the openid
	CreateTime   int64  `xml:"CreateTime"`   // seconds
	MsgType      string `xml:"MsgType"`      // "event", "text", …
	Event        string `xml:"Event"`        // "subscribe", "SCAN", …
	EventKey     string `xml:"EventKey"`     // "qrscene_<scene>" (subscribe) or "<scene>" (SCAN)
	Ticket       string `xml:"Ticket"`
	Content      string `xml:"Content"`
	MsgID        int64  `xml:"MsgId"`
	Encrypt      string `xml:"Encrypt"`
}

// Scene returns the QR scene of a subscribe or SCAN event ("" for a plain follow or any other
// message): EventKey without the qrscene_ prefix that subscribe events carry.
func (m Message) Scene() string {
	if m.MsgType != "event" {
		return ""
	}
	switch m.Event {
	case "subscribe":
		s, _ := strings.CutPrefix(m.EventKey, "qrscene_")
		if s == m.EventKey { // a plain follow, or a key without the prefix
			return ""
		}
		return s
	case "SCAN":
		return m.EventKey
	}
	return ""
}

// maxMessage bounds the XML the parser accepts; WeChat's pushes are a few hundred bytes.
const maxMessage = 64 << 10

// ParseMessage decodes the XML of a pushed message. It rejects documents that are not a single
// <xml> element, DTDs (no entity tricks), and bodies over 64 KiB, with ErrMalformed.
func ParseMessage(data []byte) (Message, error) {
	var m Message
	if len(data) > maxMessage {
		return m, fmt.Errorf("%w: %d bytes", ErrMalformed, len(data))
	}
	if maybeDirective(data) && hasDirective(data) {
		return m, fmt.Errorf("%w: directives are not allowed", ErrMalformed)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var root struct {
		XMLName xml.Name
		Message
	}
	if err := d.Decode(&root); err != nil {
		return m, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if root.XMLName.Local != "xml" {
		return m, fmt.Errorf("%w: root element is <%s>, want <xml>", ErrMalformed, root.XMLName.Local)
	}
	// Anything but whitespace after the root element is an error.
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if cd, ok := tok.(xml.CharData); ok && len(bytes.TrimSpace(cd)) == 0 {
			continue
		}
		return m, fmt.Errorf("%w: content after </xml>", ErrMalformed)
	}
	return root.Message, nil
}

// maybeDirective is a quick filter for hasDirective: some "<!" that does not open a CDATA
// section or a comment.
func maybeDirective(data []byte) bool {
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte("<!"))
		if j < 0 {
			return false
		}
		rest := data[i+j+2:]
		if !bytes.HasPrefix(rest, []byte("[CDATA[")) && !bytes.HasPrefix(rest, []byte("--")) {
			return true
		}
		i += j + 2
	}
}

// hasDirective reports whether data holds an XML directive (<!DOCTYPE, <!ENTITY…) outside
// CDATA sections.
func hasDirective(data []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.RawToken()
		if err != nil {
			return false
		}
		if _, ok := tok.(xml.Directive); ok {
			return true
		}
	}
}

type cdata struct {
	Text string `xml:",cdata"`
}

// Article is one item of a news reply.
type Article struct {
	Title, Description, PicURL, URL string
}

// NewsReply is the passive reply carrying one article that links to a page (the photo page).
func NewsReply(to, from string, createTime int64, a Article) []byte {
	type item struct {
		Title       cdata `xml:"Title"`
		Description cdata `xml:"Description"`
		PicURL      cdata `xml:"PicUrl"`
		URL         cdata `xml:"Url"`
	}
	v := struct {
		XMLName      xml.Name `xml:"xml"`
		ToUserName   cdata    `xml:"ToUserName"`
		FromUserName cdata    `xml:"FromUserName"`
		CreateTime   int64    `xml:"CreateTime"`
		MsgType      cdata    `xml:"MsgType"`
		ArticleCount int      `xml:"ArticleCount"`
		Items        []item   `xml:"Articles>item"`
	}{
		ToUserName: cdata{to}, FromUserName: cdata{from}, CreateTime: createTime,
		MsgType: cdata{"news"}, ArticleCount: 1,
		Items: []item{{cdata{a.Title}, cdata{a.Description}, cdata{a.PicURL}, cdata{a.URL}}},
	}
	out, _ := marshalXML(v)
	return out
}

// ImageReply is the passive reply carrying an image uploaded with media/upload.
func ImageReply(to, from string, createTime int64, mediaID string) []byte {
	v := struct {
		XMLName      xml.Name `xml:"xml"`
		ToUserName   cdata    `xml:"ToUserName"`
		FromUserName cdata    `xml:"FromUserName"`
		CreateTime   int64    `xml:"CreateTime"`
		MsgType      cdata    `xml:"MsgType"`
		MediaID      cdata    `xml:"Image>MediaId"`
	}{
		ToUserName: cdata{to}, FromUserName: cdata{from}, CreateTime: createTime,
		MsgType: cdata{"image"}, MediaID: cdata{mediaID},
	}
	out, _ := marshalXML(v)
	return out
}

// TextReply is the passive reply carrying a text (at most 2048 bytes).
func TextReply(to, from string, createTime int64, content string) []byte {
	v := struct {
		XMLName      xml.Name `xml:"xml"`
		ToUserName   cdata    `xml:"ToUserName"`
		FromUserName cdata    `xml:"FromUserName"`
		CreateTime   int64    `xml:"CreateTime"`
		MsgType      cdata    `xml:"MsgType"`
		Content      cdata    `xml:"Content"`
	}{
		ToUserName: cdata{to}, FromUserName: cdata{from}, CreateTime: createTime,
		MsgType: cdata{"text"}, Content: cdata{content},
	}
	out, _ := marshalXML(v)
	return out
}

// EventXML renders a pushed event as WeChat sends it (used by the fake and the simulator).
func EventXML(m Message) []byte {
	v := struct {
		XMLName      xml.Name `xml:"xml"`
		ToUserName   cdata    `xml:"ToUserName"`
		FromUserName cdata    `xml:"FromUserName"`
		CreateTime   int64    `xml:"CreateTime"`
		MsgType      cdata    `xml:"MsgType"`
		Event        *cdata   `xml:"Event,omitempty"`
		EventKey     *cdata   `xml:"EventKey,omitempty"`
		Ticket       *cdata   `xml:"Ticket,omitempty"`
		Content      *cdata   `xml:"Content,omitempty"`
	}{ToUserName: cdata{m.ToUserName}, FromUserName: cdata{m.FromUserName}, CreateTime: m.CreateTime, MsgType: cdata{m.MsgType}}
	opt := func(s string) *cdata {
		if s == "" {
			return nil
		}
		return &cdata{s}
	}
	v.Event, v.EventKey, v.Ticket, v.Content = opt(m.Event), opt(m.EventKey), opt(m.Ticket), opt(m.Content)
	out, _ := marshalXML(v)
	return out
}

// encryptedEnvelope is the body of a safe-mode push and of an encrypted reply.
type encryptedEnvelope struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   *cdata   `xml:"ToUserName,omitempty"`
	Encrypt      cdata    `xml:"Encrypt"`
	MsgSignature *cdata   `xml:"MsgSignature,omitempty"`
	TimeStamp    string   `xml:"TimeStamp,omitempty"`
	Nonce        *cdata   `xml:"Nonce,omitempty"`
}

// EncryptedReplyFields are the fields of an encrypted reply, as parsed by ParseEncryptedReply.
type EncryptedReplyFields struct {
	Encrypt      string `xml:"Encrypt"`
	MsgSignature string `xml:"MsgSignature"`
	TimeStamp    string `xml:"TimeStamp"`
	Nonce        string `xml:"Nonce"`
}

// ParseEncryptedReply decodes an encrypted reply envelope.
func ParseEncryptedReply(data []byte) (EncryptedReplyFields, error) {
	var f EncryptedReplyFields
	if err := xml.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return f, nil
}
