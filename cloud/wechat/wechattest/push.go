package wechattest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"time"

	"github.com/fitmirror/fitmirror/cloud/wechat"
)

// Mode is how a push is sent to the callback.
type Mode int

const (
	Plain  Mode = iota // signature only
	Safe               // encrypt_type=aes, only the Encrypt element
	Compat             // encrypt_type=aes, plaintext fields and Encrypt
)

// PushResult is what WeChat made of a push. When the answer is a reply WeChat rejects
// (checkReply), Push returns an error wrapping ErrReplyRejected with the result.
type PushResult struct {
	Attempts int    // tries sent (1..3)
	Status   int    // HTTP status of the answered try; 0 when none answered in time
	Reply    []byte // the answer, decrypted in safe mode; what the shopper sees unless "success"/empty
}

// Reply is a reply that reached a shopper.
type Reply struct {
	OpenID string
	Body   []byte
}

// Replies returns the passive replies shoppers received (answers other than "success" or empty).
func (s *Server) Replies() []Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Reply(nil), s.replies...)
}

type wechatMessage = wechat.Message

// Push sends m to callbackURL like WeChat does: signed (and encrypted in Safe and Compat
// modes), with a fresh timestamp and nonce, retried when no answer arrives within RetryAfter,
// three tries in all. Each retry is the same message (same CreateTime), with a new nonce.
func (s *Server) Push(ctx context.Context, callbackURL string, m wechat.Message, mode Mode) (PushResult, error) {
	var res PushResult
	plain := wechat.EventXML(m)
	wait := s.RetryAfter
	if wait <= 0 {
		wait = 5 * time.Second
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	s.mu.Lock()
	s.init()
	s.openWindow(m.FromUserName, m)
	s.mu.Unlock()
	var ci *wechat.Cipher
	if mode != Plain {
		var err error
		if ci, err = wechat.NewCipher(s.AppID, s.AESKey, ""); err != nil {
			return res, err
		}
	}
	var lastErr error
	for res.Attempts < 3 {
		res.Attempts++
		s.mu.Lock()
		s.stats.Pushes++
		s.mu.Unlock()
		ts := strconv.FormatInt(s.now().Unix(), 10)
		nonce := strconv.FormatUint(uint64(randUint32()), 10)
		q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(s.Token, ts, nonce)}, "openid": {m.FromUserName}}
		body := plain
		if mode != Plain {
			envBody, enc, err := wechat.EncryptedPush(ci, m.ToUserName, plain)
			if err != nil {
				return res, err
			}
			if mode == Compat {
				envBody = append(bytes.TrimSuffix(plain, []byte("</xml>")), []byte("<Encrypt><![CDATA["+enc+"]]></Encrypt></xml>")...)
			}
			body = envBody
			q.Set("encrypt_type", "aes")
			q.Set("msg_signature", wechat.Signature(s.Token, ts, nonce, enc))
		}
		status, reply, err := s.try(ctx, client, callbackURL+"?"+q.Encode(), body, wait)
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			continue // no answer in time: WeChat tries again
		}
		res.Status = status
		if status != http.StatusOK {
			return res, nil // an answer, though not a good one: WeChat does not retry
		}
		if mode != Plain && len(reply) > 0 && string(reply) != "success" {
			f, err := wechat.ParseEncryptedReply(reply)
			if err != nil {
				return res, fmt.Errorf("wechattest: encrypted reply: %w", err)
			}
			if wechat.Signature(s.Token, f.TimeStamp, f.Nonce, f.Encrypt) != f.MsgSignature {
				return res, errors.New("wechattest: encrypted reply: bad MsgSignature")
			}
			if reply, err = ci.Decrypt(f.Encrypt); err != nil {
				return res, fmt.Errorf("wechattest: encrypted reply: %w", err)
			}
		}
		res.Reply = reply
		if len(reply) > 0 && string(reply) != "success" {
			if err := s.checkReply(reply, m.FromUserName); err != nil {
				s.mu.Lock()
				s.stats.RejectedReplies++
				s.mu.Unlock()
				return res, err
			}
			s.mu.Lock()
			s.replies = append(s.replies, Reply{OpenID: m.FromUserName, Body: reply})
			s.mu.Unlock()
		}
		return res, nil
	}
	return res, fmt.Errorf("wechattest: push: no answer in %d tries: %w", res.Attempts, lastErr)
}

func (s *Server) try(ctx context.Context, client *http.Client, u string, body []byte, wait time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, data, nil
}

// Scan pushes what WeChat sends when openid scans the QR code of ticket: subscribe with
// EventKey qrscene_<scene> for someone not yet following, SCAN with the bare scene otherwise.
// It fails when the ticket is unknown or expired (WeChat sends nothing then).
func (s *Server) Scan(ctx context.Context, callbackURL, ticket, openid string, following bool, mode Mode) (PushResult, error) {
	s.mu.Lock()
	t, ok := s.tickets[ticket]
	live := ok && s.now().Before(t.Expires)
	s.mu.Unlock()
	if !live {
		return PushResult{}, errors.New("wechattest: scan: unknown or expired ticket")
	}
	return s.Push(ctx, callbackURL, s.ScanEvent(t.Scene, ticket, openid, following), mode)
}

// ScanWithoutFollowing is a scan by someone who does not follow the account and does not tap
// Follow on the page WeChat shows: WeChat sends the callback nothing at all. It reports
// whether the ticket was live (what the shopper's phone showed).
func (s *Server) ScanWithoutFollowing(ticket, openid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[ticket]
	return ok && s.now().Before(t.Expires)
}

// ScanEvent is the event a scan of scene produces.
func (s *Server) ScanEvent(scene, ticket, openid string, following bool) wechat.Message {
	m := wechat.Message{ToUserName: s.OpenAccount, FromUserName: openid, CreateTime: s.now().Unix(),
		MsgType: "event", Event: "subscribe", EventKey: "qrscene_" + scene, Ticket: ticket}
	if following {
		m.Event, m.EventKey = "SCAN", scene
	}
	return m
}

func randUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// HandlerTransport is an http.RoundTripper that serves each request with h in-process, for
// pushing to a callback (or calling the fake) without a network.
func HandlerTransport(h http.Handler) http.RoundTripper { return handlerTransport{h} }

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	type result struct{ resp *http.Response }
	done := make(chan result, 1)
	go func() {
		rec := httptest.NewRecorder()
		t.h.ServeHTTP(rec, req)
		done <- result{rec.Result()}
	}()
	select {
	case r := <-done:
		return r.resp, nil
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
}
