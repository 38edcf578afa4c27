package hub_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub"
)

// Behind a load balancer every request comes from its address: with the balancer in
// TrustedProxies the rate limits count the shopper or WeChat server that X-Forwarded-For
// names, so one busy client is limited and the others are not; without it, X-Forwarded-For
// is ignored (a client could write anything there) and the balancer's address is counted.
func TestRateLimitsBehindTrustedProxy(t *testing.T) {
	count := func(e *env, xff func(i int) string) (limited int) {
		t.Helper()
		for i := range 40 {
			req, _ := http.NewRequest("GET", e.srv.URL+"/p/P1", nil)
			req.Header.Set("X-Forwarded-For", xff(i))
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests {
				limited++
			}
		}
		return limited
	}
	lb := func(o *hub.Options) {
		o.PageRate = 1 // burst 10
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	}
	e := newEnv(t, lb)
	// 40 shoppers through the balancer (and an inner proxy): none limited.
	if n := count(e, func(i int) string { return fmt.Sprintf("203.0.113.%d, 10.0.0.2", i+1) }); n != 0 {
		t.Errorf("40 shoppers behind the trusted balancer: %d limited, want 0", n)
	}
	// One shopper 40 times (prepending a fake address does not help): limited after the burst.
	if n := count(e, func(i int) string { return fmt.Sprintf("198.51.100.%d, 198.51.100.200", i+1) }); n < 25 {
		t.Errorf("one shopper 40 times behind the balancer: %d limited, want the requests past the burst", n)
	}
	// Without trusted proxies, X-Forwarded-For counts for nothing.
	plain := newEnv(t, func(o *hub.Options) { o.PageRate = 1 })
	if n := count(plain, func(i int) string { return fmt.Sprintf("203.0.113.%d", i+1) }); n < 25 {
		t.Errorf("40 requests from one peer claiming 40 addresses, no trusted proxy: %d limited, want the requests past the burst", n)
	}
}
