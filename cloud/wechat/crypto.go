package wechat

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Signature is WeChat's callback signature: hex(sha1(join(sort(parts)))). The plain signature
// signs token, timestamp and nonce; the safe-mode msg_signature adds the Encrypt text.
func Signature(parts ...string) string {
	s := slices.Clone(parts)
	slices.Sort(s)
	sum := sha1.Sum([]byte(strings.Join(s, "")))
	return hex.EncodeToString(sum[:])
}

// blockSize is the PKCS#7 padding block of WeChat's safe mode: 32, not AES's 16.
const blockSize = 32

// Cipher is the safe-mode (encrypt_type=aes) cipher of one Official Account: AES-256-CBC with
// IV = key[:16] over 16 random bytes ‖ 4-byte big-endian length ‖ message ‖ appid.
type Cipher struct {
	appID string
	keys  [][]byte // current first, then the previous key
	rand  io.Reader
}

// NewCipher returns the cipher for appID with the 43-character EncodingAESKey and, during a
// key rotation, the previous one ("" when there is none): decryption tries both,
// encryption uses the current key.
func NewCipher(appID, aesKey, previousKey string) (*Cipher, error) {
	if appID == "" {
		return nil, fmt.Errorf("wechat: cipher: appid is empty")
	}
	c := &Cipher{appID: appID, rand: rand.Reader}
	for i, k := range []string{aesKey, previousKey} {
		if k == "" && i == 1 {
			break
		}
		key, err := DecodeAESKey(k)
		if err != nil {
			return nil, err
		}
		c.keys = append(c.keys, key)
	}
	return c, nil
}

// DecodeAESKey turns a 43-character EncodingAESKey into the 32-byte AES key.
func DecodeAESKey(k string) ([]byte, error) {
	if len(k) != 43 {
		return nil, fmt.Errorf("wechat: EncodingAESKey must be 43 characters, got %d", len(k))
	}
	key, err := base64.StdEncoding.DecodeString(k + "=")
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("wechat: EncodingAESKey is not base64 of 32 bytes")
	}
	return key, nil
}

// Encrypt seals msg for the callback (the Encrypt element), in base64.
func (c *Cipher) Encrypt(msg []byte) (string, error) {
	var buf bytes.Buffer
	var random [16]byte
	if _, err := io.ReadFull(c.rand, random[:]); err != nil {
		return "", fmt.Errorf("wechat: encrypt: %w", err)
	}
	buf.Write(random[:])
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(msg)))
	buf.Write(n[:])
	buf.Write(msg)
	buf.WriteString(c.appID)
	pad := blockSize - buf.Len()%blockSize
	buf.Write(bytes.Repeat([]byte{byte(pad)}, pad))
	key := c.keys[0]
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("wechat: encrypt: %w", err)
	}
	out := buf.Bytes()
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, out)
	return base64.StdEncoding.EncodeToString(out), nil
}

// Decrypt opens an Encrypt element and returns the message. It fails with ErrDecrypt when no
// key opens it and with ErrAppID when it opens but names another appid.
func (c *Cipher) Decrypt(b64 string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrDecrypt)
	}
	if len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: length %d is not a multiple of 16", ErrDecrypt, len(raw))
	}
	var firstErr error
	for _, key := range c.keys {
		msg, appID, err := open(key, raw)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if appID != c.appID {
			firstErr = fmt.Errorf("%w: %q", ErrAppID, appID)
			continue
		}
		return msg, nil
	}
	return nil, firstErr
}

func open(key, raw []byte) (msg []byte, appID string, err error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	plain := make([]byte, len(raw))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(plain, raw)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > blockSize || pad > len(plain) {
		return nil, "", fmt.Errorf("%w: bad padding", ErrDecrypt)
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, "", fmt.Errorf("%w: bad padding", ErrDecrypt)
		}
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, "", fmt.Errorf("%w: too short", ErrDecrypt)
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, "", fmt.Errorf("%w: length %d beyond the plaintext", ErrDecrypt, n)
	}
	return plain[20 : 20+n], string(plain[20+n:]), nil
}
