package wire

import (
	"encoding/json"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 123e6, time.UTC)

func TestEventJSON(t *testing.T) {
	e := Event{Seq: 7, ID: "01JD0000000000000000000000", Type: "photo.bound", At: Time{Time: t0},
		SessionID: "S1", PhotoID: "P1", Data: json.RawMessage(`{"event":"SCAN","latency_ms":1200}`)}
	b, _ := json.Marshal(e)
	want := `{"seq":7,"id":"01JD0000000000000000000000","type":"photo.bound","at":"2026-11-20T10:00:00.123Z","session_id":"S1","photo_id":"P1","data":{"event":"SCAN","latency_ms":1200}}`
	if string(b) != want {
		t.Errorf("json = %s\nwant   %s", b, want)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil || !back.At.Equal(t0) || back.Seq != 7 || string(back.Data) != string(e.Data) {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	b, _ = json.Marshal(Event{Seq: 1, ID: "X", Type: "camera.lost", At: Time{Time: t0.In(time.FixedZone("CST", 8*3600))}})
	if want := `{"seq":1,"id":"X","type":"camera.lost","at":"2026-11-20T10:00:00.123Z","data":{}}`; string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
}

func TestTime(t *testing.T) {
	b, _ := json.Marshal(struct{ A, B Time }{A: Time{Time: t0}})
	if want := `{"A":"2026-11-20T10:00:00.123Z","B":null}`; string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var v Time
	for _, bad := range []string{`12`, `"yesterday"`} {
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
	if err := json.Unmarshal([]byte(`"2026-11-20T18:00:00.123+08:00"`), &v); err != nil || !v.Equal(t0) {
		t.Errorf("Unmarshal(+08:00) = %v, %v", v, err)
	}
}

func TestIDRules(t *testing.T) {
	for id, want := range map[string]bool{"m1": true, "store-12-mirror-3": true, "": false, "-m": false,
		"M1": false, "m/1": false, "m+": false, string(make([]byte, 64)): false} {
		if got := ValidDeviceID(id); got != want {
			t.Errorf("ValidDeviceID(%q) = %v, want %v", id, got, want)
		}
	}
	for id, want := range map[string]bool{"01JD0000000000000000000000": true, "a_b-C": true, "": false, "../x": false, "a.jpg": false} {
		if got := ValidPhotoID(id); got != want {
			t.Errorf("ValidPhotoID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestTopics(t *testing.T) {
	tp := Topics{Prefix: "mirror", Device: "m1"}
	for got, want := range map[string]string{
		tp.Status(): "mirror/m1/status", tp.Telemetry(): "mirror/m1/telemetry", tp.Events(): "mirror/m1/events",
		tp.Command("snapshot"): "mirror/m1/cmd/snapshot", tp.Result("snapshot"): "mirror/m1/cmd/snapshot/result",
		tp.Desired(): "mirror/m1/config/desired", tp.Reported(): "mirror/m1/config/reported", tp.Binding(): "mirror/m1/binding",
	} {
		if got != want {
			t.Errorf("topic %q, want %q", got, want)
		}
	}
	if id, ok := DeviceOf("mirror", "mirror/m1/status"); !ok || id != "m1" {
		t.Errorf("DeviceOf = %q, %v", id, ok)
	}
	for _, topic := range []string{"mirror/m1", "other/m1/status", "mirror//status"} {
		if id, ok := DeviceOf("mirror", topic); ok {
			t.Errorf("DeviceOf(%q) = %q, true", topic, id)
		}
	}
}
