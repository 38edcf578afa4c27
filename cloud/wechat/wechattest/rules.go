package wechattest

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// ErrReplyRejected wraps what WeChat does with a passive reply it cannot use: the shopper
// sees "该公众号暂时无法提供服务" instead (WeChat does not retry).
var ErrReplyRejected = errors.New("wechattest: passive reply rejected")

// passiveReply is the XML of a passive reply.
type passiveReply struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   string   `xml:"ToUserName"`
	FromUserName string   `xml:"FromUserName"`
	CreateTime   string   `xml:"CreateTime"`
	MsgType      string   `xml:"MsgType"`
	Content      string   `xml:"Content"`
	MediaID      string   `xml:"Image>MediaId"`
	ArticleCount string   `xml:"ArticleCount"`
	Articles     []struct {
		Title  string `xml:"Title"`
		PicURL string `xml:"PicUrl"`
		URL    string `xml:"Url"`
	} `xml:"Articles>item"`
}

// checkReply applies the passive reply rules to reply, the answer to a push from openid to
// the account: well-formed XML, addressed to the sender (ToUserName) from the account
// (FromUserName), a numeric CreateTime, a known MsgType with its content: text with Content
// (at most 2048 bytes), image with a MediaId this server issued, news with ArticleCount equal
// to its 1-8 items, each with a Title and an http(s) Url (and an http(s) PicUrl when it has
// one). s.mu must not be held.
func (s *Server) checkReply(reply []byte, openid string) error {
	var r passiveReply
	if err := xml.Unmarshal(reply, &r); err != nil {
		return fmt.Errorf("%w: not XML: %v", ErrReplyRejected, err)
	}
	switch {
	case r.ToUserName != openid:
		return fmt.Errorf("%w: ToUserName %q is not the sender %q", ErrReplyRejected, r.ToUserName, openid)
	case r.FromUserName != s.OpenAccount:
		return fmt.Errorf("%w: FromUserName %q is not the account %q", ErrReplyRejected, r.FromUserName, s.OpenAccount)
	}
	if _, err := strconv.ParseInt(r.CreateTime, 10, 64); err != nil {
		return fmt.Errorf("%w: CreateTime %q is not a number", ErrReplyRejected, r.CreateTime)
	}
	switch r.MsgType {
	case "text":
		if r.Content == "" || len(r.Content) > 2048 {
			return fmt.Errorf("%w: text Content of %d bytes (want 1-2048)", ErrReplyRejected, len(r.Content))
		}
	case "image":
		s.mu.Lock()
		_, ok := s.media[r.MediaID]
		s.mu.Unlock()
		if !ok {
			return fmt.Errorf("%w: image MediaId %q unknown", ErrReplyRejected, r.MediaID)
		}
	case "news":
		n, err := strconv.Atoi(r.ArticleCount)
		if err != nil || n != len(r.Articles) || n < 1 || n > 8 {
			return fmt.Errorf("%w: ArticleCount %q with %d items (want 1-8, equal)", ErrReplyRejected, r.ArticleCount, len(r.Articles))
		}
		for i, a := range r.Articles {
			if a.Title == "" || !httpURL(a.URL) {
				return fmt.Errorf("%w: article %d: want a Title and an http(s) Url, got %q %q", ErrReplyRejected, i, a.Title, a.URL)
			}
			if a.PicURL != "" && !httpURL(a.PicURL) {
				return fmt.Errorf("%w: article %d: PicUrl %q is not an http(s) URL", ErrReplyRejected, i, a.PicURL)
			}
		}
	default:
		return fmt.Errorf("%w: MsgType %q", ErrReplyRejected, r.MsgType)
	}
	return nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// stateRE is what WeChat's OAuth accepts as state: letters and digits, at most 128 bytes.
var stateRE = regexp.MustCompile(`^[a-zA-Z0-9]{0,128}$`)

// oauthParams is the order of the authorize URL's parameters that WeChat requires.
var oauthParams = []string{"appid", "redirect_uri", "response_type", "scope", "state"}

// CheckAuthorizeURL applies WeChat's rules for a web OAuth link to u: the path
// /connect/oauth2/authorize, the parameters appid, redirect_uri, response_type=code, scope
// (snsapi_base or snsapi_userinfo) and state in that order, the account's appid, a state of
// at most 128 letters and digits, a redirect_uri on the account's OAuth domain (OAuthDomain,
// when set), and the #wechat_redirect fragment. Without the fragment or in another order
// WeChat shows an error page instead of redirecting.
func (s *Server) CheckAuthorizeURL(u string) error {
	base, frag, _ := strings.Cut(u, "#")
	if frag != "wechat_redirect" {
		return fmt.Errorf("wechattest: OAuth URL %q: must end with #wechat_redirect", u)
	}
	pu, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("wechattest: OAuth URL: %w", err)
	}
	return s.checkAuthorize(pu.Path, pu.RawQuery)
}

// checkAuthorize checks what the server sees of an authorize request (no fragment).
func (s *Server) checkAuthorize(path, rawQuery string) error {
	if path != "/connect/oauth2/authorize" {
		return fmt.Errorf("wechattest: OAuth path %q, want /connect/oauth2/authorize", path)
	}
	var names []string
	for _, kv := range strings.Split(rawQuery, "&") {
		k, _, _ := strings.Cut(kv, "=")
		names = append(names, k)
	}
	if len(names) < len(oauthParams) {
		return fmt.Errorf("wechattest: OAuth parameters %v, want %v in this order", names, oauthParams)
	}
	for i, want := range oauthParams {
		if names[i] != want {
			return fmt.Errorf("wechattest: OAuth parameters %v, want %v in this order", names, oauthParams)
		}
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return fmt.Errorf("wechattest: OAuth query: %w", err)
	}
	switch {
	case q.Get("appid") != s.AppID:
		return fmt.Errorf("wechattest: OAuth appid %q, want %q", q.Get("appid"), s.AppID)
	case q.Get("response_type") != "code":
		return fmt.Errorf("wechattest: OAuth response_type %q, want code", q.Get("response_type"))
	case q.Get("scope") != "snsapi_base" && q.Get("scope") != "snsapi_userinfo":
		return fmt.Errorf("wechattest: OAuth scope %q", q.Get("scope"))
	case !stateRE.MatchString(q.Get("state")):
		return fmt.Errorf("wechattest: OAuth state %q: at most 128 letters and digits", q.Get("state"))
	}
	ru, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !httpURL(q.Get("redirect_uri")) {
		return fmt.Errorf("wechattest: OAuth redirect_uri %q is not an http(s) URL", q.Get("redirect_uri"))
	}
	if s.OAuthDomain != "" && ru.Host != s.OAuthDomain {
		return fmt.Errorf("wechattest: OAuth redirect_uri %q: not on the OAuth domain %s (errcode 10003)", ru, s.OAuthDomain)
	}
	return nil
}
