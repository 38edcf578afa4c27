package wechat

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// CallbackOptions configure a Callback. Token is required; AppID and AESKey are required for
// safe mode.
type CallbackOptions struct {
	Token          string           // the Token set in the Official Account's server settings
	AppID          string           // checked against the appid inside each ciphertext
	AESKey         string           // EncodingAESKey (43 chars); "" = plain mode only
	PreviousAESKey string           // the key before the last rotation, tried second
	Window         time.Duration    // accepted |now - timestamp|; 0 = 5 minutes
	Now            func() time.Time // nil = time.Now
}

// Callback verifies and opens what WeChat pushes to the callback URL, and seals replies.
//
// With an EncodingAESKey it accepts only sealed pushes (safe or compatibility mode, which
// always carry Encrypt): the plain signature covers token, timestamp and nonce but not the
// body, so anyone who saw one push URL could post any body with it. In plain mode, where
// that is all there is, a (timestamp, nonce) seen within the window may come again only with
// the same body (ErrReplay).
type Callback struct {
	opts   CallbackOptions
	cipher *Cipher // nil in plain mode

	mu   sync.Mutex
	seen map[string]seenPush // timestamp + nonce → the body it came with (plain mode)
}

type seenPush struct {
	body [32]byte
	at   time.Time
}

// Incoming is a verified, decoded push.
type Incoming struct {
	Message
	Encrypted bool   // it came in safe mode: reply with Seal
	Timestamp string // of the request, reused for the reply
	Nonce     string
}

// NewCallback checks the options.
func NewCallback(opts CallbackOptions) (*Callback, error) {
	if opts.Token == "" {
		return nil, errors.New("wechat: callback: token is empty")
	}
	if opts.Window <= 0 {
		opts.Window = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Callback{opts: opts, seen: map[string]seenPush{}}
	if opts.AESKey != "" {
		ci, err := NewCipher(opts.AppID, opts.AESKey, opts.PreviousAESKey)
		if err != nil {
			return nil, err
		}
		c.cipher = ci
	}
	return c, nil
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// checkTime enforces the replay window on the timestamp parameter.
func (c *Callback) checkTime(ts string) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not a number", ErrSignature, ts)
	}
	d := c.opts.Now().Sub(time.Unix(sec, 0))
	if d > c.opts.Window || d < -c.opts.Window {
		return fmt.Errorf("%w: %s off", ErrStale, d.Round(time.Second))
	}
	return nil
}

// Handshake answers the GET that WeChat sends when the callback URL is configured: it returns
// echostr when the signature is right and the timestamp within the window.
func (c *Callback) Handshake(q url.Values) (string, error) {
	sig := Signature(c.opts.Token, q.Get("timestamp"), q.Get("nonce"))
	if !equal(sig, q.Get("signature")) {
		return "", ErrSignature
	}
	if err := c.checkTime(q.Get("timestamp")); err != nil {
		return "", err
	}
	return q.Get("echostr"), nil
}

// checkReplay refuses a (timestamp, nonce) seen before with another body, and forgets
// what is older than the window.
func (c *Callback) checkReplay(ts, nonce string, body []byte) error {
	now := c.opts.Now()
	sum := sha256.Sum256(body)
	key := ts + "\x00" + nonce
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) > 1024 {
		for k, v := range c.seen {
			if now.Sub(v.at) > 2*c.opts.Window {
				delete(c.seen, k)
			}
		}
	}
	if old, ok := c.seen[key]; ok && now.Sub(old.at) <= 2*c.opts.Window {
		if old.body != sum {
			return fmt.Errorf("%w: timestamp %s and nonce %s came before with another body", ErrReplay, ts, nonce)
		}
		return nil
	}
	c.seen[key] = seenPush{body: sum, at: now}
	return nil
}

// Open verifies a POSTed push (query q, body) and decodes it. Plain mode checks signature;
// safe mode (encrypt_type=aes) checks msg_signature over the Encrypt element and decrypts it.
// Errors: ErrSignature, ErrStale, ErrUnsealed or ErrReplay (answer 401), ErrMalformed,
// ErrDecrypt or ErrAppID (400).
func (c *Callback) Open(q url.Values, body []byte) (Incoming, error) {
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	in := Incoming{Timestamp: ts, Nonce: nonce}
	if q.Get("encrypt_type") == "aes" {
		if c.cipher == nil {
			return in, fmt.Errorf("%w: safe mode push but no EncodingAESKey configured", ErrDecrypt)
		}
		env, err := ParseMessage(body)
		if err != nil {
			return in, err
		}
		if env.Encrypt == "" {
			return in, fmt.Errorf("%w: no Encrypt element", ErrMalformed)
		}
		if !equal(Signature(c.opts.Token, ts, nonce, env.Encrypt), q.Get("msg_signature")) {
			return in, fmt.Errorf("%w: msg_signature", ErrSignature)
		}
		if err := c.checkTime(ts); err != nil {
			return in, err
		}
		plain, err := c.cipher.Decrypt(env.Encrypt)
		if err != nil {
			return in, err
		}
		m, err := ParseMessage(plain)
		if err != nil {
			return in, err
		}
		in.Message, in.Encrypted = m, true
		return in, nil
	}
	if c.cipher != nil {
		return in, fmt.Errorf("%w: an EncodingAESKey is set, so pushes must be sealed (encrypt_type=aes)", ErrUnsealed)
	}
	if !equal(Signature(c.opts.Token, ts, nonce), q.Get("signature")) {
		return in, ErrSignature
	}
	if err := c.checkTime(ts); err != nil {
		return in, err
	}
	if err := c.checkReplay(ts, nonce, body); err != nil {
		return in, err
	}
	m, err := ParseMessage(body)
	if err != nil {
		return in, err
	}
	in.Message = m
	return in, nil
}

// Seal prepares a reply to in: unchanged in plain mode, an encrypted envelope signed with
// the request's timestamp and nonce in safe mode. An empty reply stays empty.
func (c *Callback) Seal(in Incoming, reply []byte) ([]byte, error) {
	if !in.Encrypted || len(reply) == 0 || string(reply) == "success" {
		return reply, nil
	}
	return SealReply(c.cipher, c.opts.Token, in.Timestamp, in.Nonce, reply)
}

// SealReply encrypts reply into the <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>
// envelope. The fake uses it to push safe-mode events too.
func SealReply(ci *Cipher, token, timestamp, nonce string, reply []byte) ([]byte, error) {
	enc, err := ci.Encrypt(reply)
	if err != nil {
		return nil, err
	}
	env := encryptedEnvelope{
		Encrypt:      cdata{enc},
		MsgSignature: &cdata{Signature(token, timestamp, nonce, enc)},
		TimeStamp:    timestamp,
		Nonce:        &cdata{nonce},
	}
	return marshalXML(env)
}

// EncryptedPush builds the body of a safe-mode push of msg to the account toUser.
func EncryptedPush(ci *Cipher, toUser string, msg []byte) (body []byte, encrypt string, err error) {
	enc, err := ci.Encrypt(msg)
	if err != nil {
		return nil, "", err
	}
	body, err = marshalXML(encryptedEnvelope{ToUserName: &cdata{toUser}, Encrypt: cdata{enc}})
	return body, enc, err
}
