// Package httpjson reads the JSON requests and writes the JSON answers of fitmirror's HTTP
// APIs (the hub's and the agent's): one error shape, {"error":{"code":…,"message":…}}
// (docs/contracts.md §2), plain JSON bodies, and strict bounded request bodies.
package httpjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// ErrorBody is the error shape of every fitmirror HTTP API.
type ErrorBody = wire.APIError

// ErrorDetail is the inside of [ErrorBody].
type ErrorDetail = wire.Error

// Error writes status and {"error":{"code":code,"message":msg}}.
func Error(w http.ResponseWriter, status int, code, msg string) {
	Write(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
}

// Write writes status and v as JSON (HTML characters not escaped: XML and URLs in the bodies
// stay readable).
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// Decode reads r's body, at most limit bytes, as exactly one JSON value into v, refusing
// fields v does not have. On failure it answers the request (413 too_large over the limit,
// 400 bad_request otherwise, naming the problem) and returns false.
func Decode(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			Error(w, http.StatusRequestEntityTooLarge, wire.CodeTooLarge, fmt.Sprintf("request body over %s", size(limit)))
			return false
		}
		Error(w, http.StatusBadRequest, wire.CodeBadRequest, "request body: "+err.Error())
		return false
	}
	if dec.Decode(new(json.RawMessage)) != io.EOF {
		Error(w, http.StatusBadRequest, wire.CodeBadRequest, "request body: more than one JSON value")
		return false
	}
	return true
}

// size says n bytes the way the error messages always have (16 KiB).
func size(n int64) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d bytes", n)
}
