package httpjson

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestError(t *testing.T) {
	rec := httptest.NewRecorder()
	Error(rec, 415, "bad_request", `Content-Type must be "application/json" <x>`)
	want := `{"error":{"code":"bad_request","message":"Content-Type must be \"application/json\" <x>"}}` + "\n"
	if rec.Code != 415 || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != want {
		t.Errorf("Error = %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}

func TestDecode(t *testing.T) {
	type body struct {
		IDs []string `json:"ids"`
	}
	for _, tt := range []struct {
		in     string
		ok     bool
		status int
		msg    string
	}{
		{`{"ids":["a"]}`, true, 0, ""},
		{`{"ids":["a"],"extra":1}`, false, 400, `unknown field`},
		{`{"ids":["a"]} {}`, false, 400, "more than one JSON value"},
		{`{"ids":`, false, 400, "request body:"},
		{`{"ids":["` + strings.Repeat("x", 2000) + `"]}`, false, 413, "request body over 1 KiB"},
	} {
		rec := httptest.NewRecorder()
		var v body
		ok := Decode(rec, httptest.NewRequest("POST", "/", strings.NewReader(tt.in)), 1024, &v)
		if ok != tt.ok {
			t.Errorf("Decode(%.40q) = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if ok {
			if len(v.IDs) != 1 || v.IDs[0] != "a" || rec.Body.Len() != 0 {
				t.Errorf("Decode(%q) gave %+v and wrote %q", tt.in, v, rec.Body)
			}
			continue
		}
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.msg) {
			t.Errorf("Decode(%.40q) answered %d %s, want %d with %q", tt.in, rec.Code, rec.Body, tt.status, tt.msg)
		}
	}
}
