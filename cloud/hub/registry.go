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
		httpjson.Error(w, http.StatusUnauthorized, "unauthorized", "missing bearer token")
		return Device{}, false
	}
	d, err := h.opts.Store.DeviceByToken(r.Context(), hashSecret(strings.TrimSpace(tok)))
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			h.log.Error("hub: device lookup", "err", err)
			httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "device registry unavailable")
			return Device{}, false
		}
		httpjson.Error(w, http.StatusUnauthorized, "unauthorized", "unknown device token")
		return Device{}, false
	}
	return d, true
}
