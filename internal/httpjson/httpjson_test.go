package httpjson

import (
	"net/http/httptest"
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
