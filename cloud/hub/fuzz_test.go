package hub_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/internal/jpegcheck/jpegtest"
)

// FuzzDeviceAPI sends any body to the device API's endpoints, as a mirror's token would (a
// compromised mirror is on the internet side of the hub): the hub never fails with a 5xx
// other than WeChat or its store being unavailable, every refusal is the API's JSON error, and
// it stores nothing that is not a photo. Seeds: testdata/fuzz/FuzzDeviceAPI.
func FuzzDeviceAPI(f *testing.F) {
	f.Add(uint8(0), []byte(`{"photo_id":"P1","expire_seconds":300}`))
	f.Add(uint8(0), []byte(`{"photo_id":"P1","expire_seconds":-1,"scene":"s s"}`))
	f.Add(uint8(1), []byte(`{"binding_ids":["01JD00000000000000000000B1"]}`))
	f.Add(uint8(1), []byte(`{"binding_ids":[1,2,3]}`))
	f.Add(uint8(2), jpegtest.Progressive())
	f.Add(uint8(2), jpegtest.Bomb(65535, 65535))
	e := newEnv(f, func(o *hub.Options) { o.DeviceAPIRate = -1 })
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		var method, path, ctype string
		switch which % 3 {
		case 0:
			method, path, ctype = "POST", "/v1/qrcodes", "application/json"
		case 1:
			method, path, ctype = "POST", "/v1/bindings/ack", "application/json"
		default:
			method, path, ctype = "PUT", "/v1/photos/F1", "image/jpeg"
		}
		run := *e // the same hub, this input's t
		run.t = t
		st, b := run.do(method, path, ctype, body, e.creds.Token)
		if st >= 500 && st != http.StatusBadGateway && st != http.StatusServiceUnavailable {
			t.Fatalf("%s %s = %d %s", method, path, st, b)
		}
		if st >= 400 {
			var v struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(b, &v); err != nil || v.Error.Code == "" || v.Error.Message == "" {
				t.Fatalf("%s %s = %d with a body that is not the API's error: %q", method, path, st, b)
			}
		}
		if which%3 == 2 && (st == 200 || st == 201) && !bytes.HasPrefix(body, []byte{0xff, 0xd8}) {
			t.Fatalf("PUT stored a body that is not a JPEG: %q", body)
		}
	})
}
