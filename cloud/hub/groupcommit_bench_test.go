package hub_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres/pgtest"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
)

// countingPublisher counts the bindings the delivery loop hands to the broker.
type countingPublisher struct {
	n    atomic.Int64
	done chan struct{}
	want int64
	once sync.Once
}

func (p *countingPublisher) Publish(context.Context, string, []byte) error {
	if p.n.Add(1) >= p.want {
		p.once.Do(func() { close(p.done) })
	}
	return nil
}

// BenchmarkNewEvents measures new WeChat events per second under concurrency — 64 pushes in
// flight, as when many shoppers scan at once or WeChat's retries pile up — with every event
// durable before its answer (SQLite WAL synchronous=FULL; PostgreSQL with fsync and
// synchronous_commit on). Each operation is a new safe-mode subscribe push through the
// callback handler: signature, decrypt, XML, scene lookup, the dedupe record with its viewer,
// the sealed reply. The delivery loop runs meanwhile and publishes every binding (claim,
// publish, mark sent: two more writes per event).
//
// group-commit batches the writes of concurrent callers into one transaction;
// one-commit-per-event is the baseline (every write its own transaction). Reported: events/s
// (answered), delivered/s (until the last binding was published), writes/commit.
func BenchmarkNewEvents(b *testing.B) {
	type backend struct {
		name string
		open func(b *testing.B, opts ...hubstore.Option) hub.Store
	}
	pg := pgtest.Start(b) // fsync on: a commit costs what it costs in production
	backends := []backend{
		{"sqlite", func(b *testing.B, opts ...hubstore.Option) hub.Store {
			st, err := sqlite.Open(filepath.Join(b.TempDir(), "hub.db"), opts...)
			if err != nil {
				b.Fatal(err)
			}
			return st
		}},
		{"postgres", func(b *testing.B, opts ...hubstore.Option) hub.Store {
			st, err := postgres.Open(context.Background(), pg.NewDatabase(b), opts...)
			if err != nil {
				b.Fatal(err)
			}
			return st
		}},
	}
	for _, be := range backends {
		for _, gc := range []bool{true, false} {
			name := be.name + "/group-commit"
			var opts []hubstore.Option
			if !gc {
				name, opts = be.name+"/one-commit-per-event", []hubstore.Option{hubstore.WithoutGroupCommit()}
			}
			b.Run(name, func(b *testing.B) { benchNewEvents(b, be.open(b, opts...)) })
		}
	}
}

func benchNewEvents(b *testing.B, st hub.Store) {
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := &countingPublisher{done: make(chan struct{}), want: int64(b.N)}
	fake := wechattest.New("wxhub", "s3cret")
	fake.Token, fake.AESKey = "cbtoken", testAESKey
	client, _ := wechat.NewClient(wechat.Options{BaseURL: "http://api.test", AppID: "wxhub", Secret: "s3cret",
		HTTPClient: &http.Client{Transport: wechattest.HandlerTransport(fake)}})
	cb, _ := wechat.NewCallback(wechat.CallbackOptions{Token: "cbtoken", AppID: "wxhub", AESKey: testAESKey})
	h, err := hub.New(hub.Options{Store: st, PhotoDir: b.TempDir(), WeChat: client, Callback: cb, Publisher: pub,
		AppID: "wxhub", PublicURL: "https://hub.test", CallbackRate: -1, DeviceAPIRate: -1, PageRate: -1, Logger: quietLogger()}) // a benchmark is one busy client
	if err != nil {
		b.Fatal(err)
	}
	if err := st.AddScene(ctx, hub.Scene{Scene: "S1", Ticket: "T1", PhotoID: "P1", DeviceID: "m1", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	handler := h.Handler()
	ci, _ := wechat.NewCipher("wxhub", testAESKey, "")
	type push struct {
		q    string
		body []byte
	}
	pushes := make([]push, b.N)
	for i := range pushes {
		ev := fake.ScanEvent("S1", "T1", "o_"+strconv.Itoa(i), false)
		body, enc, _ := wechat.EncryptedPush(ci, "gh", wechat.EventXML(ev))
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		nonce := strconv.Itoa(i)
		q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "encrypt_type": {"aes"}, "msg_signature": {wechat.Signature("cbtoken", ts, nonce, enc)}}
		pushes[i] = push{q.Encode(), body}
	}
	go h.Run(ctx)
	var next atomic.Int64
	b.SetParallelism(32) // × GOMAXPROCS (2) = 64 pushes in flight
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := pushes[next.Add(1)-1]
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, httptest.NewRequest("POST", "/wechat/callback?"+p.q, bytes.NewReader(p.body)))
			if rec.Code != 200 || !bytes.Contains(rec.Body.Bytes(), []byte("<Encrypt>")) {
				b.Errorf("callback = %d %s", rec.Code, rec.Body)
				return
			}
		}
	})
	answered := time.Since(start)
	b.StopTimer()
	select {
	case <-pub.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("delivered %d of %d bindings", pub.n.Load(), b.N)
	}
	delivered := time.Since(start)
	// CPU used by the process (all goroutines, the store's included) per event, from
	// answering to delivering: what the machine's load cannot stretch.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
	b.ReportMetric(float64(b.N)/answered.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/delivered.Seconds(), "delivered/s")
	if cs, ok := st.(interface{ CommitStats() hubstore.CommitStats }); ok {
		s := cs.CommitStats()
		if s.Transactions > 0 {
			b.ReportMetric(float64(s.Writes)/float64(s.Transactions), "writes/commit")
		}
	}
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
