package wechat_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
)

func newPair(t *testing.T) (*wechattest.Server, *wechat.Client) {
	t.Helper()
	fake := wechattest.New("wxapp", "secret")
	srv := fake.Start()
	t.Cleanup(srv.Close)
	c, err := wechat.NewClient(wechat.Options{BaseURL: srv.URL, AppID: "wxapp", Secret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	return fake, c
}

func TestConcurrentQRsFetchOneToken(t *testing.T) {
	fake, c := newPair(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			qr, err := c.CreateQR(t.Context(), "scene-"+string(rune('a'+i%26)), 5*time.Minute)
			if err == nil && !strings.HasPrefix(qr.URL, "http://weixin.qq.com/q/") {
				err = errors.New("url " + qr.URL)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("CreateQR: %v", err)
		}
	}
	if st := fake.Stats(); st.TokenCalls != 1 || st.QRIssued != 50 {
		t.Errorf("stats = %+v, want 1 token call and 50 tickets", st)
	}
}

func TestTokenInvalidatedMidFlight(t *testing.T) {
	fake, c := newPair(t)
	if _, err := c.CreateQR(t.Context(), "s1", time.Minute); err != nil {
		t.Fatal(err)
	}
	fake.InvalidateTokens() // another process fetched a classic token
	qr, err := c.CreateQR(t.Context(), "s2", time.Minute)
	if err != nil || qr.Ticket == "" {
		t.Fatalf("CreateQR after invalidation = %+v, %v; want a ticket after one retry", qr, err)
	}
	if st := fake.Stats(); st.TokenCalls != 2 || st.QRCalls != 3 {
		t.Errorf("stats = %+v, want 2 token calls and 3 qrcode calls (one rejected)", st)
	}
	// A token rejected twice in a row is retried once only.
	fake.FailNext("qrcode/create", wechat.CodeInvalidCredential, 2)
	_, err = c.CreateQR(t.Context(), "s3", time.Minute)
	if e, ok := wechat.AsError(err); !ok || e.Code != wechat.CodeInvalidCredential {
		t.Fatalf("CreateQR rejected twice: err = %v, want errcode 40001", err)
	}
	if st := fake.Stats(); st.QRCalls != 5 {
		t.Errorf("qrcode calls = %d, want 5 (one retry only)", st.QRCalls)
	}
}

func TestQuotaIsNotRetried(t *testing.T) {
	fake, c := newPair(t)
	fake.QRDailyQuota = 1
	if _, err := c.CreateQR(t.Context(), "s1", time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateQR(t.Context(), "s2", time.Minute)
	e, ok := wechat.AsError(err)
	if !ok || e.Code != wechat.CodeDailyQuota || e.Retryable() {
		t.Fatalf("CreateQR over quota: err = %v, want non-retryable errcode 45009", err)
	}
	if st := fake.Stats(); st.QRCalls != 2 {
		t.Errorf("qrcode calls = %d, want 2", st.QRCalls)
	}
}

func TestErrorsAreTyped(t *testing.T) {
	tests := []struct {
		code      int
		retryable bool
	}{
		{-1, true}, {40001, true}, {42001, true}, {40014, true}, {45011, true},
		{40013, false}, {40125, false}, {40164, false}, {40243, false}, {45009, false},
	}
	for _, tt := range tests {
		if got := (&wechat.Error{Code: tt.code}).Retryable(); got != tt.retryable {
			t.Errorf("Error{%d}.Retryable() = %v, want %v", tt.code, got, tt.retryable)
		}
	}
	// A bad secret surfaces as such, wrapped with the operation.
	fake := wechattest.New("wxapp", "secret")
	srv := fake.Start()
	defer srv.Close()
	c, _ := wechat.NewClient(wechat.Options{BaseURL: srv.URL, AppID: "wxapp", Secret: "wrong"})
	_, err := c.CreateQR(t.Context(), "s", time.Minute)
	if e, ok := wechat.AsError(err); !ok || e.Code != wechat.CodeInvalidSecret || !strings.Contains(err.Error(), "stable_token") {
		t.Errorf("bad secret: err = %v, want errcode 40125 from stable_token", err)
	}
	// An unreachable API is not an *Error.
	srv.Close()
	c2, _ := wechat.NewClient(wechat.Options{BaseURL: srv.URL, AppID: "wxapp", Secret: "secret"})
	_, err = c2.CreateQR(t.Context(), "s", time.Minute)
	var ue *wechat.UnreachableError
	if !errors.As(err, &ue) {
		t.Errorf("closed server: err = %v, want *UnreachableError", err)
	}
}

func TestTokenRefreshedAheadOfExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := wechattest.New("wxapp", "secret")
		fake.TokenTTL = 10 * time.Minute
		hc := &http.Client{Transport: wechattest.HandlerTransport(fake)}
		c, _ := wechat.NewClient(wechat.Options{BaseURL: "http://api.test", AppID: "wxapp", Secret: "secret", HTTPClient: hc, RefreshAhead: time.Minute})
		tok1, err := c.Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(8 * time.Minute) // fake time: 2 minutes left, more than RefreshAhead
		if tok, _ := c.Token(t.Context()); tok != tok1 {
			t.Errorf("token changed with 2 minutes left")
		}
		time.Sleep(90 * time.Second) // 30 s left: refresh ahead; the fake rotated it already
		tok2, err := c.Token(t.Context())
		if err != nil || tok2 == tok1 {
			t.Errorf("token near expiry = same (%v); want a fresh one", err)
		}
		if n := fake.Stats().TokenCalls; n != 2 {
			t.Errorf("token calls = %d, want 2", n)
		}
	})
}

func TestOAuthAndMedia(t *testing.T) {
	fake, c := newPair(t)
	code := fake.AuthorizeCode("o_shopper")
	u, err := c.OAuthOpenID(t.Context(), code)
	if err != nil || u.OpenID != "o_shopper" {
		t.Fatalf("OAuthOpenID = %+v, %v", u, err)
	}
	if _, err := c.OAuthOpenID(t.Context(), code); err == nil {
		t.Error("an OAuth code worked twice")
	}
	jpg := []byte{0xff, 0xd8, 0xff, 0xe0, 1, 2, 3}
	id, err := c.UploadImage(t.Context(), "p.jpg", jpg)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := fake.Media(id); !ok || string(got) != string(jpg) {
		t.Errorf("fake holds %q for media %s, want the upload", got, id)
	}
	// message/custom/send outside the window after an event is refused.
	err = c.SendNews(t.Context(), "o_shopper", wechat.Article{Title: "t", URL: "https://x/p/1"})
	if e, ok := wechat.AsError(err); !ok || e.Code != wechat.CodeOutsideWindow {
		t.Errorf("SendNews without an event: err = %v, want 45015", err)
	}
}

// The fake retries a push that gets no answer within 5 s, three tries in all, with the same
// message each time.
func TestFakeRetriesUnansweredPush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := wechattest.New("wxapp", "secret")
		var mu sync.Mutex
		var seen []wechat.Message
		var times []time.Time
		start := time.Now()
		cb, _ := wechat.NewCallback(wechat.CallbackOptions{Token: fake.Token})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body := make([]byte, 4096)
			n, _ := r.Body.Read(body)
			in, err := cb.Open(r.URL.Query(), body[:n])
			if err != nil {
				t.Errorf("push does not verify: %v", err)
			}
			mu.Lock()
			seen = append(seen, in.Message)
			times = append(times, time.Now())
			try := len(seen)
			mu.Unlock()
			if try < 3 {
				select { // too slow: WeChat gives up on this try
				case <-time.After(6 * time.Second):
				case <-r.Context().Done():
				}
				return
			}
			w.Write([]byte("success"))
		})
		fake.Client = &http.Client{Transport: wechattest.HandlerTransport(h)}
		res, err := fake.Push(context.Background(), "http://hub.test/wechat/callback", fake.ScanEvent("S", "T", "O", false), wechattest.Plain)
		if err != nil || res.Attempts != 3 || string(res.Reply) != "success" {
			t.Fatalf("Push = %+v, %v; want 3 attempts, success", res, err)
		}
		if len(seen) != 3 || seen[0] != seen[2] {
			t.Errorf("tries = %+v, want the same message three times", seen)
		}
		for i, at := range times {
			if want := start.Add(time.Duration(i) * 5 * time.Second); !at.Equal(want) {
				t.Errorf("try %d at +%v, want +%v", i+1, at.Sub(start), want.Sub(start))
			}
		}
	})
}

// BenchmarkCreateQR measures qrcode/create calls against the fake over loopback HTTP, with the
// cached token, from 8 goroutines.
func BenchmarkCreateQR(b *testing.B) {
	fake := wechattest.New("wxapp", "secret")
	srv := fake.Start()
	defer srv.Close()
	c, _ := wechat.NewClient(wechat.Options{BaseURL: srv.URL, AppID: "wxapp", Secret: "secret"})
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.CreateQR(context.Background(), "scene", 5*time.Minute); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "qr/s")
}

// "System busy" (-1) is retried after a backoff, twice at most.
func TestBusyIsRetriedWithBackoff(t *testing.T) {
	for _, tt := range []struct {
		busy      int
		wantCalls int
		wantErr   bool
	}{{1, 2, false}, {2, 3, false}, {3, 3, true}} {
		synctest.Test(t, func(t *testing.T) {
			fake := wechattest.New("wxapp", "secret")
			c, _ := wechat.NewClient(wechat.Options{BaseURL: "http://api.test", AppID: "wxapp", Secret: "secret",
				HTTPClient: &http.Client{Transport: wechattest.HandlerTransport(fake)}})
			fake.FailNext("qrcode/create", wechat.CodeBusy, tt.busy)
			start := time.Now()
			_, err := c.CreateQR(t.Context(), "s", time.Minute)
			e, isWeChat := wechat.AsError(err)
			if (err != nil) != tt.wantErr || (err != nil && (!isWeChat || e.Code != -1 || !e.Retryable())) {
				t.Fatalf("%d busy answers: err = %v, want error %v", tt.busy, err, tt.wantErr)
			}
			if n := fake.Stats().QRCalls; n != tt.wantCalls {
				t.Errorf("%d busy answers: %d calls, want %d", tt.busy, n, tt.wantCalls)
			}
			// Waits of 200 ms, then 400 ms, each with at most half taken off (internal/backoff).
			var least time.Duration
			for i := 0; i < tt.wantCalls-1; i++ {
				least += (200 * time.Millisecond << i) / 2
			}
			if waited := time.Since(start); waited < least {
				t.Errorf("%d busy answers: retried after %v, too soon (want at least %v)", tt.busy, waited, least)
			}
		})
	}
}

// OnCall sees every API call with its operation, duration and error (the hub's metrics).
func TestOnCallReportsCallsAndErrcodes(t *testing.T) {
	fake := wechattest.New("wxapp", "secret")
	type call struct {
		op   string
		code int
	}
	var calls []call
	c, _ := wechat.NewClient(wechat.Options{BaseURL: "http://api.test", AppID: "wxapp", Secret: "secret",
		HTTPClient: &http.Client{Transport: wechattest.HandlerTransport(fake)},
		OnCall: func(op string, d time.Duration, err error) {
			code := 0
			if e, ok := wechat.AsError(err); ok {
				code = e.Code
			}
			calls = append(calls, call{op, code})
		}})
	if _, err := c.CreateQR(t.Context(), "s1", time.Minute); err != nil {
		t.Fatal(err)
	}
	fake.FailNext("qrcode/create", 45009, 1)
	if _, err := c.CreateQR(t.Context(), "s2", time.Minute); err == nil {
		t.Fatal("CreateQR with the quota spent = nil error")
	}
	want := []call{{"qrcode/create", 0}, {"qrcode/create", 45009}}
	if len(calls) != 2 || calls[0] != want[0] || calls[1] != want[1] {
		t.Errorf("OnCall saw %+v, want %+v", calls, want)
	}
}

// The errcodes a deployment meets come with what to do.
func TestExplain(t *testing.T) {
	for code, want := range map[int]string{
		48001: "verified service account",
		40163: "already used",
		42003: "expired",
		40164: "IP白名单",
		40125: "wechat.secret",
		40013: "wechat.appid",
		45009: "daily",
		45015: "window",
		40001: "stable token",
	} {
		got := wechat.Explain(&wechat.Error{Code: code, Msg: "m", Op: "op"})
		if !strings.Contains(got, want) || !strings.Contains(got, "errcode") || strings.Contains(got, "\n") {
			t.Errorf("Explain(%d) = %q, want one line with %q", code, got, want)
		}
	}
	if got := wechat.Explain(&wechat.Error{Code: 99999, Msg: "odd", Op: "op"}); got != "wechat: op: errcode 99999: odd" {
		t.Errorf("Explain(unknown) = %q", got)
	}
}
