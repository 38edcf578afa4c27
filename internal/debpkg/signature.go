package debpkg

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"aead.dev/minisign"
)

// ParseKeys reads minisign public keys: each either the key line ("RWQ…") or the whole .pub
// file minisign -G writes (an untrusted comment line, then the key). Errors name the key; a
// key given twice is an error.
func ParseKeys(texts []string) ([]minisign.PublicKey, error) {
	var out []minisign.PublicKey
	seen := map[uint64]bool{}
	for i, t := range texts {
		var k minisign.PublicKey
		if err := k.UnmarshalText([]byte(strings.TrimSpace(t))); err != nil {
			return nil, fmt.Errorf("public key %d (%.12q…): not a minisign public key (minisign -G writes one; the line starting \"RW\"): %v",
				i+1, t, strings.TrimPrefix(err.Error(), "minisign: "))
		}
		if seen[k.ID()] {
			return nil, fmt.Errorf("public key %d: key %s is listed twice", i+1, KeyID(k.ID()))
		}
		seen[k.ID()] = true
		out = append(out, k)
	}
	return out, nil
}

// KeyID is the ID minisign prints for a key or signature (16 hex digits, upper case).
func KeyID(id uint64) string { return fmt.Sprintf("%016X", id) }

// ErrBadSignature is what Verify's errors wrap when the signature does not hold.
var ErrBadSignature = errors.New("bad signature")

// Verified is what Verify read: the file's size and SHA-256 (hex) and the key that signed it.
type Verified struct {
	Size   int64
	SHA256 string
	KeyID  string
	// TrustedComment is the signed comment (minisign -t; by default the file name and time).
	TrustedComment string
}

// Verify reads r to its end and checks the minisign signature sig (the .minisig file's text)
// against keys, computing the size and SHA-256 on the way: one pass, nothing held in memory.
// The size and SHA-256 are returned also when the signature does not hold (the caller may
// report a wrong checksum first).
// Only prehashed signatures (minisign 0.10 and later; not -l) are accepted, since only
// those can be checked without the whole file in memory.
func Verify(r io.Reader, sig string, keys []minisign.PublicKey) (Verified, error) {
	h := sha256.New()
	mr := minisign.NewReader(io.TeeReader(r, h))
	n, err := io.Copy(io.Discard, mr)
	if err != nil {
		return Verified{}, fmt.Errorf("reading the file: %w", err)
	}
	v := Verified{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	var s minisign.Signature
	if err := s.UnmarshalText([]byte(sig)); err != nil {
		return v, fmt.Errorf("%w: not a minisign signature: %v", ErrBadSignature, err)
	}
	if s.Algorithm != minisign.HashEdDSA {
		return v, fmt.Errorf("%w: a legacy (not prehashed) signature: sign with minisign 0.10 or later, without -l", ErrBadSignature)
	}
	v.KeyID, v.TrustedComment = KeyID(s.KeyID), s.TrustedComment
	var known []string
	for _, k := range keys {
		known = append(known, KeyID(k.ID()))
		if k.ID() == s.KeyID {
			if !mr.Verify(k, []byte(sig)) {
				return v, fmt.Errorf("%w: the signature of key %s does not match the file (changed after signing, or signed another file)",
					ErrBadSignature, KeyID(s.KeyID))
			}
			return v, nil
		}
	}
	return v, fmt.Errorf("%w: signed by key %s, which is not one of the configured public keys (%s)",
		ErrBadSignature, KeyID(s.KeyID), strings.Join(known, ", "))
}
