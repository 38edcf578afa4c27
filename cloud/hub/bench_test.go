package hub_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/embedbroker"
	"github.com/fitmirror/fitmirror/cloud/hub/hubsim"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
)

// stalledPublisher never gets an acknowledgement: each publish waits until it is cut.
type stalledPublisher struct{}

func (stalledPublisher) Publish(ctx context.Context, _ string, _ []byte) error {
	<-ctx.Done()
	return ctx.Err()
}

// BenchmarkCallback measures what the hub does per WeChat push in safe mode: msg_signature,
// AES decrypt, XML, scene lookup, the durable dedupe record in SQLite (WAL, synchronous=FULL)
// and the sealed reply; the delivery loop publishes the binding through the embedded broker to
// a subscribed device meanwhile (QoS 1). "new-stalled" is the same with a broker that never
// acknowledges: the answer does not wait for MQTT, so it should cost about what "new" costs.
// The pushes are prepared (encrypted by "WeChat") before the timer starts.
func BenchmarkCallback(b *testing.B) {
	for _, name := range []string{"new", "retry", "new-stalled"} {
		dup, stalled := name == "retry", name == "new-stalled" // retry: the same event again, dedupe hit, no publish
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			st, err := sqlite.Open(filepath.Join(dir, "hub.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			creds, _ := hub.AddDevice(context.Background(), st, "m1", time.Now())
			br, err := embedbroker.New(embedbroker.Options{Listen: "127.0.0.1:0", Store: st, Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go br.Run(ctx)
			received := make(chan struct{}, 1<<20)
			c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + br.Addr()).SetClientID("m1").SetUsername("m1").SetPassword(creds.MQTTPassword))
			if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
				b.Fatal(tok.Error())
			}
			defer c.Disconnect(0)
			c.Subscribe("mirror/m1/binding", 1, func(paho.Client, paho.Message) { received <- struct{}{} }).Wait()

			fake := wechattest.New("wxhub", "s3cret")
			fake.Token, fake.AESKey = "cbtoken", testAESKey
			client, _ := wechat.NewClient(wechat.Options{BaseURL: "http://api.test", AppID: "wxhub", Secret: "s3cret",
				HTTPClient: &http.Client{Transport: wechattest.HandlerTransport(fake)}})
			cb, _ := wechat.NewCallback(wechat.CallbackOptions{Token: "cbtoken", AppID: "wxhub", AESKey: testAESKey})
			var pub hub.Publisher = br
			if stalled {
				pub = stalledPublisher{}
			}
			h, err := hub.New(hub.Options{Store: st, Photos: hub.DirBlobs(dir), WeChat: client, Callback: cb, Publisher: pub,
				AppID: "wxhub", PublicURL: "https://hub.test", CallbackRate: -1, DeviceAPIRate: -1, PageRate: -1, Logger: quietLogger()}) // a benchmark is one busy client
			if err != nil {
				b.Fatal(err)
			}
			go h.Run(ctx) // the delivery loop takes the bindings to the device
			st.AddScene(ctx, hub.Scene{Scene: "S1", Ticket: "T1", PhotoID: "P1", DeviceID: "m1", ExpiresAt: time.Now().Add(time.Hour)})
			handler := h.Handler()
			ci, _ := wechat.NewCipher("wxhub", testAESKey, "")
			type push struct {
				q    string
				body []byte
			}
			mk := func(i int) push {
				ev := fake.ScanEvent("S1", "T1", "o_"+strconv.Itoa(i), false)
				body, enc, _ := wechat.EncryptedPush(ci, "gh", wechat.EventXML(ev))
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				q := url.Values{"timestamp": {ts}, "nonce": {"1"}, "encrypt_type": {"aes"}, "msg_signature": {wechat.Signature("cbtoken", ts, "1", enc)}}
				return push{q.Encode(), body}
			}
			pushes := make([]push, b.N)
			for i := range pushes {
				if dup {
					pushes[i] = mk(0)
				} else {
					pushes[i] = mk(i)
				}
			}
			if dup { // the first delivery, outside the measurement
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, httptest.NewRequest("POST", "/wechat/callback?"+pushes[0].q, bytes.NewReader(pushes[0].body)))
			}
			b.ResetTimer()
			for i := range b.N {
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, httptest.NewRequest("POST", "/wechat/callback?"+pushes[i].q, bytes.NewReader(pushes[i].body)))
				if rec.Code != 200 || !bytes.Contains(rec.Body.Bytes(), []byte("<Encrypt>")) {
					b.Fatalf("callback = %d %s", rec.Code, rec.Body)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			if !dup && !stalled { // every binding reached the device
				for range b.N {
					select {
					case <-received:
					case <-time.After(10 * time.Second):
						b.Fatal("a binding did not arrive")
					}
				}
			}
		})
	}
}

// BenchmarkQRCodes measures POST /v1/qrcodes end to end over loopback HTTP: device auth,
// photo lookup, qrcode/create at the fake WeChat (over loopback HTTP too), the scene stored in
// SQLite; 8 agents in parallel.
func BenchmarkQRCodes(b *testing.B) {
	fake := wechattest.New("wxhub", "s3cret")
	api := fake.Start()
	defer api.Close()
	dir := b.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "hub.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	client, _ := wechat.NewClient(wechat.Options{BaseURL: api.URL, AppID: "wxhub", Secret: "s3cret"})
	cb, _ := wechat.NewCallback(wechat.CallbackOptions{Token: "t"})
	h, err := hub.New(hub.Options{Store: st, PhotoDir: dir, WeChat: client, Callback: cb, Publisher: &recorder{},
		AppID: "wxhub", PublicURL: "https://hub.test", CallbackRate: -1, DeviceAPIRate: -1, PageRate: -1, Logger: quietLogger()}) // a benchmark is one busy client
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	creds, _ := hub.AddDevice(context.Background(), st, "m1", time.Now())
	st.PutPhoto(context.Background(), hub.Photo{ID: "P1", DeviceID: "m1", SHA256: "x", CreatedAt: time.Now()})
	body := []byte(`{"photo_id":"P1","expire_seconds":300}`)
	b.SetParallelism(4) // 4 × GOMAXPROCS (2 here) = 8 concurrent requesters
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", srv.URL+"/v1/qrcodes", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+creds.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 201 {
				b.Error(fmt.Sprint("status ", resp.StatusCode))
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "qr/s")
	if n := fake.Stats().TokenCalls; n != 1 {
		b.Errorf("token calls = %d, want 1", n)
	}
}

// BenchmarkScanToBinding measures the hub's share of the scan → screen latency in sim mode:
// from POST /sim/scan (the simulator signs and encrypts a subscribe push and delivers it to
// the callback) to the binding arriving at the device's MQTT subscriber through the embedded
// broker over loopback. It reports the p50 and p95 of the iterations.
func BenchmarkScanToBinding(b *testing.B) {
	dir := b.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "hub.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	creds, _ := hub.AddDevice(ctx, st, "m1", time.Now())
	br, err := embedbroker.New(embedbroker.Options{Listen: "127.0.0.1:0", Store: st, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	go br.Run(ctx)
	received := make(chan time.Time, 16)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + br.Addr()).SetClientID("m1").SetUsername("m1").SetPassword(creds.MQTTPassword))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer c.Disconnect(0)
	c.Subscribe("mirror/m1/binding", 1, func(paho.Client, paho.Message) { received <- time.Now() }).Wait()
	sim := hubsim.New("wxsim", "secret", "token", testAESKey)
	client, _ := wechat.NewClient(wechat.Options{BaseURL: "http://wechat.sim", AppID: "wxsim", Secret: "secret", HTTPClient: sim.Client()})
	cb, _ := wechat.NewCallback(wechat.CallbackOptions{Token: "token", AppID: "wxsim", AESKey: testAESKey})
	h, err := hub.New(hub.Options{Store: st, PhotoDir: dir, WeChat: client, Callback: cb, Publisher: br,
		AppID: "wxsim", PublicURL: "http://127.0.0.1:1", Sim: sim, CallbackRate: -1, DeviceAPIRate: -1, PageRate: -1, Logger: quietLogger()}) // a benchmark is one busy client
	if err != nil {
		b.Fatal(err)
	}
	go h.Run(ctx)
	handler := h.Handler()
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		scene := "s" + strconv.Itoa(i)
		st.AddScene(ctx, hub.Scene{Scene: scene, Ticket: "T" + scene, PhotoID: "P1", DeviceID: "m1", ExpiresAt: time.Now().Add(time.Hour)})
		body := []byte(`{"scene":"` + scene + `","openid":"o_bench"}`)
		b.StartTimer()
		start := time.Now()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("POST", "/sim/scan", bytes.NewReader(body)))
		if rec.Code != 200 {
			b.Fatalf("sim/scan = %d %s", rec.Code, rec.Body)
		}
		select {
		case at := <-received:
			lat = append(lat, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatal("no binding")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95_ms")
}
