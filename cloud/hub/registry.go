package hub

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/fitmirror/fitmirror/internal/httpguard"
	"github.com/fitmirror/fitmirror/internal/httpjson"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// Credentials are a new device's secrets, shown once: the hub keeps only their hashes.
type Credentials struct {
	DeviceID     string `json:"device_id"`
	Token        string `json:"token"`
	MQTTPassword string `json:"mqtt_password"`
}

// hashSecret hashes a credential. The secrets are 256 random bits, so a plain SHA-256 is
// enough: there is nothing to guess that a slow hash would protect.
func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// AddDevice registers a device and returns its credentials.
func AddDevice(ctx context.Context, st Store, id string, now time.Time) (Credentials, error) {
	if !wire.ValidDeviceID(id) {
		return Credentials{}, fmt.Errorf("device add: %q is not a device ID (%s)", id, wire.DeviceIDRule)
	}
	c := Credentials{DeviceID: id, Token: newSecret(), MQTTPassword: newSecret()}
	err := st.AddDevice(ctx, Device{ID: id, TokenHash: hashSecret(c.Token), MQTTHash: hashSecret(c.MQTTPassword), CreatedAt: now})
	if errors.Is(err, ErrExists) {
		return Credentials{}, fmt.Errorf("device add: %s is already registered", id)
	}
	return c, err
}

// RotateDevice issues new credentials for a registered device: its old token and MQTT
// password stop working at once (the mirror needs the new ones in its configuration).
func RotateDevice(ctx context.Context, st Store, id string) (Credentials, error) {
	if !wire.ValidDeviceID(id) {
		return Credentials{}, fmt.Errorf("device rotate: %q is not a device ID (%s)", id, wire.DeviceIDRule)
	}
	c := Credentials{DeviceID: id, Token: newSecret(), MQTTPassword: newSecret()}
	if err := st.RotateDevice(ctx, id, hashSecret(c.Token), hashSecret(c.MQTTPassword)); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Credentials{}, fmt.Errorf("device rotate: %s is not registered (mirror-cloud device add %s)", id, id)
		}
		return Credentials{}, err
	}
	return c, nil
}

// CheckMQTT reports whether password is the MQTT password of device id.
func CheckMQTT(ctx context.Context, st Store, id string, password []byte) bool {
	d, err := st.Device(ctx, id)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(hashSecret(string(password))), []byte(d.MQTTHash)) == 1
}

// authDevice returns the device whose token the request bears, or writes 401.
func (h *Hub) authDevice(w http.ResponseWriter, r *http.Request) (Device, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		h.quietLog.Warn("token:"+httpguard.ClientIP(r), "hub: device API request without a bearer token", "remote", httpguard.ClientIP(r))
		httpjson.Error(w, http.StatusUnauthorized, wire.CodeUnauthorized, "missing bearer token")
		return Device{}, false
	}
	d, err := h.opts.Store.DeviceByToken(r.Context(), hashSecret(strings.TrimSpace(tok)))
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			h.log.Error("hub: device lookup", "err", err)
			httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "device registry unavailable")
			return Device{}, false
		}
		// Logged once per burst and client, not once per request.
		h.quietLog.Warn("token:"+httpguard.ClientIP(r), "hub: unknown device token", "remote", httpguard.ClientIP(r))
		httpjson.Error(w, http.StatusUnauthorized, wire.CodeUnauthorized, "unknown device token")
		return Device{}, false
	}
	return d, true
}
