package wechat

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A 40001 drops the cached token only when it is the token that failed: when another caller
// has already replaced it, the retry uses the newer token without fetching again.
func TestInvalidOnlyDropsTheFailingToken(t *testing.T) {
	tests := []struct {
		name           string
		replaceMidCall bool // another caller refreshes while the call with token A is in flight
		wantFetches    int32
		wantRetryWith  string
	}{
		{"cached token is the failing one", false, 1, "FETCHED"},
		{"cached token already replaced", true, 0, "B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *Client
			var fetches atomic.Int32
			var used []string
			rt := roundTrip(func(r *http.Request) (*http.Response, error) {
				var body string
				switch r.URL.Path {
				case "/cgi-bin/stable_token":
					fetches.Add(1)
					body = `{"access_token":"FETCHED","expires_in":7200}`
				case "/cgi-bin/qrcode/create":
					tok := r.URL.Query().Get("access_token")
					used = append(used, tok)
					if tok == "A" {
						if tt.replaceMidCall {
							c.mu.Lock()
							c.token = "B"
							c.mu.Unlock()
						}
						body = `{"errcode":40001,"errmsg":"invalid credential"}`
					} else {
						body = `{"ticket":"T","expire_seconds":60,"url":"http://weixin.qq.com/q/x"}`
					}
				}
				return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: jsonBody(body)}, nil
			})
			var err error
			c, err = NewClient(Options{BaseURL: "http://api.test", AppID: "a", Secret: "s", HTTPClient: &http.Client{Transport: rt}})
			if err != nil {
				t.Fatal(err)
			}
			c.token, c.expiry = "A", time.Now().Add(time.Hour)
			if _, err := c.CreateQR(t.Context(), "s", time.Minute); err != nil {
				t.Fatalf("CreateQR: %v", err)
			}
			if got := fetches.Load(); got != tt.wantFetches {
				t.Errorf("token fetches = %d, want %d", got, tt.wantFetches)
			}
			if len(used) != 2 || used[1] != tt.wantRetryWith {
				t.Errorf("tokens used = %q, want A then %s", used, tt.wantRetryWith)
			}
		})
	}
}

func jsonBody(s string) *readCloser {
	if !json.Valid([]byte(s)) {
		panic("bad JSON in test: " + s)
	}
	return &readCloser{strings.NewReader(s)}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }
