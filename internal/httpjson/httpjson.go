// Package httpjson writes the JSON answers of fitmirror's HTTP APIs (the hub's and the
// agent's): one error shape, {"error":{"code":…,"message":…}} (docs/contracts.md §2), and
// plain JSON bodies.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the error shape of every fitmirror HTTP API.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of [ErrorBody].
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error writes status and {"error":{"code":code,"message":msg}}.
func Error(w http.ResponseWriter, status int, code, msg string) {
	Write(w, status, ErrorBody{ErrorDetail{Code: code, Message: msg}})
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
