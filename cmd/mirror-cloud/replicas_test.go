package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/oklog/ulid/v2"

	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres/pgtest"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/s3blobs/s3test"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
	"github.com/fitmirror/fitmirror/internal/testexec"
	"github.com/fitmirror/fitmirror/internal/wire"
)

const (
	replicaAppID  = "wxreplicas000000"
	replicaSecret = "replica-secret"
	replicaToken  = "replicatoken"
	replicaAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	hubMQTTPass   = "hub-password"
)

// deployment is one hub behind a load balancer: two `mirror-cloud serve` replicas sharing a
// PostgreSQL database, or (the default) one replica on SQLite. Both use a real mosquitto
// that the mirror m1 is subscribed to, and the same WeChat account settings.
type deployment struct {
	t        *testing.T
	postgres bool
	sets     []string // the configuration every replica and command shares
	state    string   // SQLite: the state directory
	replicas []*server
	lb       *loadBalancer
	lbSrv    *httptest.Server
	mq       *mosquittotest.Broker
	creds    hub.Credentials

	mu       sync.Mutex
	bindings []wire.Binding // what arrived on mirror/m1/binding, in order
	arrived  chan struct{}
}

func newDeployment(t *testing.T, postgres, s3 bool) *deployment {
	d := &deployment{t: t, postgres: postgres, state: t.TempDir(), arrived: make(chan struct{}, 1024)}
	d.sets = []string{"state_dir=" + d.state, "wechat.appid=" + replicaAppID, "wechat.secret=" + replicaSecret,
		"wechat.token=" + replicaToken, "wechat.aes_key=" + replicaAESKey}
	if postgres {
		pg := pgtest.Start(t, pgtest.Options{NoFsync: true})
		d.sets = append(d.sets, "database.url="+pg.NewDatabase(t))
	}
	if s3 { // the photos in an S3 bucket (a fake S3 served by this test process)
		d.sets = append(d.sets, "photos.url="+s3test.Start(t, "photos", "hub"))
	}
	// A device added with the shared configuration (through replica A's database).
	d.creds = d.deviceAdd("m1")
	d.mq = mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"_hub": hubMQTTPass, "m1": d.creds.MQTTPassword}})
	// The load balancer is the public URL: WeChat and the phones reach the hub through it.
	d.lb = &loadBalancer{}
	d.lbSrv = httptest.NewServer(d.lb)
	t.Cleanup(d.lbSrv.Close)
	d.sets = append(d.sets, "mqtt.url="+d.mq.URL(), "mqtt.username=_hub", "mqtt.password="+hubMQTTPass, "public_url="+d.lbSrv.URL)
	n := 1
	if postgres {
		n = 2
	}
	for range n {
		d.replicas = append(d.replicas, startServe(t, d.state, d.sets...))
	}
	d.lb.set(d.urls())

	// The mirror's MQTT session.
	o := paho.NewClientOptions().AddBroker(d.mq.URL()).SetClientID("m1").SetUsername("m1").SetPassword(d.creds.MQTTPassword)
	mc := paho.NewClient(o)
	if tok := mc.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatalf("m1 connect: %v", tok.Error())
	}
	t.Cleanup(func() { mc.Disconnect(0) })
	if tok := mc.Subscribe("mirror/m1/binding", 1, func(_ paho.Client, m paho.Message) {
		var b wire.Binding
		if err := json.Unmarshal(m.Payload(), &b); err != nil {
			t.Errorf("binding %s: %v", m.Payload(), err)
			return
		}
		d.mu.Lock()
		d.bindings = append(d.bindings, b)
		d.mu.Unlock()
		d.arrived <- struct{}{}
	}); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	return d
}

func (d *deployment) deviceAdd(id string) hub.Credentials {
	d.t.Helper()
	args := []string{"device", "add", id}
	for _, s := range d.sets {
		args = append(args, "--set", s)
	}
	out, err := testexec.Command(binary(d.t), args...).Output()
	if err != nil {
		d.t.Fatalf("device add %s: %v", id, err)
	}
	var c hub.Credentials
	if err := json.Unmarshal(out, &c); err != nil || c.DeviceID != id {
		d.t.Fatalf("device add printed %s (%v)", out, err)
	}
	return c
}

func (d *deployment) urls() []string {
	var out []string
	for _, r := range d.replicas {
		out = append(out, r.http)
	}
	return out
}

// a and b are the two replicas (the same one on SQLite).
func (d *deployment) a() *server { return d.replicas[0] }
func (d *deployment) b() *server { return d.replicas[len(d.replicas)-1] }

// api calls the device API of a replica with m1's token.
func (d *deployment) api(s *server, method, path, ctype string, body []byte) (int, []byte) {
	d.t.Helper()
	req, _ := http.NewRequest(method, s.http+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.creds.Token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (d *deployment) qr(s *server, photoID string) (scene, ticket string) {
	d.t.Helper()
	code, body := d.api(s, "POST", "/v1/qrcodes", "application/json", []byte(`{"photo_id":"`+photoID+`"}`))
	var r struct{ Scene, Ticket string }
	if code != 201 || json.Unmarshal(body, &r) != nil || r.Ticket == "" {
		d.t.Fatalf("POST /v1/qrcodes on %s = %d %s", s.http, code, body)
	}
	return r.Scene, r.Ticket
}

// ack acknowledges bindings like the agent does, through replica s.
func (d *deployment) ack(s *server, ids []string) {
	d.t.Helper()
	for len(ids) > 0 {
		n := min(len(ids), 100)
		body, _ := json.Marshal(map[string][]string{"binding_ids": ids[:n]})
		if code, b := d.api(s, "POST", "/v1/bindings/ack", "application/json", body); code != 200 {
			d.t.Fatalf("ack = %d %s", code, b)
		}
		ids = ids[n:]
	}
}

// received returns the bindings that arrived so far.
func (d *deployment) received() []wire.Binding {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.bindings)
}

// waitFor waits until ok holds for the bindings received, or fails after timeout.
func (d *deployment) waitFor(timeout time.Duration, what string, ok func([]wire.Binding) bool) []wire.Binding {
	d.t.Helper()
	deadline := time.After(timeout)
	for {
		if got := d.received(); ok(got) {
			return got
		}
		select {
		case <-d.arrived:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			d.t.Fatalf("%s: not within %v (received %d bindings)", what, timeout, len(d.received()))
		}
	}
}

// loadBalancer forwards each callback to the replicas in turn and, like nginx with
// proxy_next_upstream error timeout http_502 http_503 non_idempotent, to the next one when a
// replica does not answer or answers 502/503 (the callback is idempotent by its dedupe key).
type loadBalancer struct {
	mu        sync.Mutex
	upstreams []string
	next      int
	failovers atomic.Int64
}

var upstreamClient = &http.Client{Timeout: 4 * time.Second}

func (l *loadBalancer) set(upstreams []string) {
	l.mu.Lock()
	l.upstreams = slices.Clone(upstreams)
	l.mu.Unlock()
}

func (l *loadBalancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	ups, start := slices.Clone(l.upstreams), l.next
	l.next++
	l.mu.Unlock()
	if r.URL.Path != "/wechat/callback" {
		// Phones stick to one replica (nginx ip_hash; here every phone is 127.0.0.1): the
		// sim mode's OAuth codes live in the replica whose simulator issued them.
		start = 0
	}
	for i := range ups {
		u := ups[(start+i)%len(ups)]
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, u+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := upstreamClient.Do(req)
		if err != nil {
			l.failovers.Add(1)
			continue
		}
		if resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable {
			resp.Body.Close()
			l.failovers.Add(1)
			continue
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		return
	}
	http.Error(w, "no upstream answered", http.StatusBadGateway)
}

// The acceptance of replicas on PostgreSQL (photos in the database, or in an S3 bucket);
// SQLite (the default, one replica) passes the same steps with A = B, and its kill is
// followed by a restart on the same state directory.
func TestReplicas(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres", "postgres+s3"} {
		t.Run(backend, func(t *testing.T) {
			testReplicas(t, strings.HasPrefix(backend, "postgres"), strings.HasSuffix(backend, "s3"))
		})
	}
}

func testReplicas(t *testing.T, postgres, s3 bool) {
	d := newDeployment(t, postgres, s3)
	a, b := d.a(), d.b()
	fake := wechattest.New(replicaAppID, replicaSecret)
	fake.Token, fake.AESKey = replicaToken, replicaAESKey

	// A device added through one works through the other; a photo uploaded to A is known to
	// B: the same bytes answer 200, other bytes 409.
	jpg, err := os.ReadFile("../../testdata/face.jpg")
	if err != nil {
		t.Fatal(err)
	}
	photoID := ulid.Make().String()
	if code, body := d.api(a, "PUT", "/v1/photos/"+photoID, "image/jpeg", jpg); code != 201 {
		t.Fatalf("PUT photo on A = %d %s", code, body)
	}
	if code, body := d.api(b, "PUT", "/v1/photos/"+photoID, "image/jpeg", jpg); code != 200 {
		t.Errorf("PUT the same photo on B = %d %s, want 200", code, body)
	}
	other := append(slices.Clone(jpg), 0)
	if code, body := d.api(b, "PUT", "/v1/photos/"+photoID, "image/jpeg", other); code != 409 {
		t.Errorf("PUT other bytes under that ID on B = %d %s, want 409", code, body)
	}

	// B issues a QR code for A's photo.
	scene, ticket := d.qr(b, photoID)

	// 20 identical pushes spread over A and B (WeChat's retries landing on both replicas at
	// once): one binding on the mirror's topic, and every push answered with the photo.
	ev := fake.ScanEvent(scene, ticket, "o_twenty", false)
	var wg sync.WaitGroup
	replies := make([][]byte, 20)
	for i := range 20 {
		wg.Go(func() {
			res, err := fake.Push(t.Context(), d.replicas[i%len(d.replicas)].http+"/wechat/callback", ev, wechattest.Safe)
			if err != nil || res.Status != 200 {
				t.Errorf("push %d = %d, %v", i, res.Status, err)
			}
			replies[i] = res.Reply
		})
	}
	wg.Wait()
	for i, r := range replies {
		if !bytes.Contains(r, []byte("/p/"+photoID)) || !bytes.Equal(r, replies[0]) {
			t.Errorf("push %d replied %q, want the same photo reply as push 0 (%q)", i, r, replies[0])
		}
	}
	got := d.waitFor(15*time.Second, "the binding of 20 identical pushes", func(bs []wire.Binding) bool { return len(bs) >= 1 })
	d.ack(a, []string{got[0].BindingID})
	time.Sleep(3 * time.Second) // room for a duplicate to show up
	if got := d.received(); len(got) != 1 || got[0].PhotoID != photoID || got[0].Scene != scene {
		t.Fatalf("20 identical pushes over %d replicas gave %d messages on mirror/m1/binding, want exactly 1: %+v", len(d.replicas), len(got), got)
	}

	// The shopper's photo page, through the load balancer, then on B itself: the photo
	// uploaded to A, for the shopper who scanned.
	jar, _ := cookiejar.New(nil)
	phone := &http.Client{Jar: jar}
	if page := get(t, phone, d.lbSrv.URL+"/p/"+photoID+"?openid=o_twenty"); page.status != 200 {
		t.Errorf("photo page = %d %s", page.status, page.body)
	}
	if raw := get(t, phone, b.http+"/p/"+photoID+"?raw=1"); raw.status != 200 || raw.body != string(jpg) {
		t.Errorf("photo on B = %d, %d bytes; want A's upload", raw.status, len(raw.body))
	}

	// A SIGKILLed during 40 distinct scans: the load balancer sends what A does not answer to
	// B (on SQLite, the scans wait for A's restart); every scanner is bound exactly once.
	const scans = 40
	type qr struct{ scene, ticket string }
	codes := make([]qr, scans)
	for i := range codes {
		codes[i].scene, codes[i].ticket = d.qr(b, photoID)
	}
	var done atomic.Int64
	var retried atomic.Int64
	killed := make(chan struct{})
	work := make(chan int)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for range 4 {
		wg.Go(func() {
			for i := range work {
				ev := fake.ScanEvent(codes[i].scene, codes[i].ticket, fmt.Sprintf("o_scan_%02d", i), false)
				for {
					res, err := fake.Push(ctx, d.lbSrv.URL+"/wechat/callback", ev, wechattest.Safe)
					if err == nil && res.Status == 200 && bytes.Contains(res.Reply, []byte("/p/"+photoID)) {
						break
					}
					if ctx.Err() != nil {
						t.Errorf("scan %d never answered: %d %v", i, res.Status, err)
						return
					}
					retried.Add(1) // WeChat gave up on this try: the shopper scans again
					time.Sleep(100 * time.Millisecond)
				}
				if done.Add(1) == 10 {
					close(killed)
				}
			}
		})
	}
	go func() {
		<-killed
		a.cmd.Process.Kill() // SIGKILL, mid-burst: 30 scans to go, some in flight at A
		a.cmd.Wait()
		if !postgres { // the one replica comes back on its state directory
			d.replicas[0] = startServe(t, d.state, d.sets...)
		}
		d.lb.set(d.urls())
	}()
	for i := range scans {
		work <- i
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		return
	}
	survivor := d.replicas[len(d.replicas)-1]
	users := map[string]map[string]bool{} // user → binding IDs
	d.waitFor(90*time.Second, "40 distinct bindings after the kill", func(bs []wire.Binding) bool {
		var ids []string
		for _, b := range bs[1:] {
			if users[b.User] == nil {
				users[b.User] = map[string]bool{}
			}
			if !users[b.User][b.BindingID] {
				users[b.User][b.BindingID] = true
				ids = append(ids, b.BindingID)
			}
		}
		if len(ids) > 0 {
			d.ack(survivor, ids) // the mirror acknowledges what it got
		}
		return len(users) >= scans
	})
	for u, ids := range users {
		if len(ids) != 1 {
			t.Errorf("scanner %s bound %d times, want once", u, len(ids))
		}
	}
	if len(users) != scans {
		t.Errorf("%d scanners bound, want %d", len(users), scans)
	}
	t.Logf("%d scans: %d pushes retried by the shopper, %d requests moved to another replica by the load balancer, %d binding messages (repeats of a binding are dropped by the mirror)",
		scans, retried.Load(), d.lb.failovers.Load(), len(d.received())-1)
	if postgres && d.lb.failovers.Load() == 0 {
		t.Error("the load balancer never moved a request off the killed replica: the kill did not land mid-burst")
	}
	if !strings.Contains(get(t, http.DefaultClient, survivor.http+"/healthz").body, `"database":{"ok":true}`) {
		t.Error("/healthz of the survivor does not report its database ok")
	}
	if postgres { // two replicas again
		d.replicas[0] = startServe(t, d.state, d.sets...)
	}
	galleryAcrossReplicas(t, d, fake, jpg)
}

// galleryAcrossReplicas: a shopper deletes a photo from their gallery through one replica; the
// other replica (the same one on SQLite) no longer shows or serves it, at once.
func galleryAcrossReplicas(t *testing.T, d *deployment, fake *wechattest.Server, jpg []byte) {
	one, two := d.replicas[0], d.replicas[len(d.replicas)-1]
	id := ulid.Make().String()
	if code, body := d.api(one, "PUT", "/v1/photos/"+id, "image/jpeg", jpg); code != 201 {
		t.Fatalf("PUT photo = %d %s", code, body)
	}
	scene, ticket := d.qr(one, id)
	if res, err := fake.Push(t.Context(), one.http+"/wechat/callback", fake.ScanEvent(scene, ticket, "o_gallery", false), wechattest.Safe); err != nil || res.Status != 200 {
		t.Fatalf("scan: %+v %v", res, err)
	}
	jar, _ := cookiejar.New(nil)
	phone := &http.Client{Jar: jar}
	page := get(t, phone, one.http+"/me?openid=o_gallery")
	m := regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`).FindStringSubmatch(page.body)
	if page.status != 200 || m == nil || !strings.Contains(page.body, `data-photo="`+id+`"`) {
		t.Fatalf("gallery on one replica = %d %s", page.status, page.body)
	}
	req, _ := http.NewRequest("DELETE", one.http+"/me/photos/"+id, nil)
	req.Header.Set("X-CSRF-Token", m[1])
	resp, err := phone.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("DELETE through one replica = %v %v", resp, err)
	}
	resp.Body.Close()
	if page := get(t, phone, two.http+"/me"); page.status != 200 || strings.Contains(page.body, id) {
		t.Errorf("the other replica's gallery = %d, still shows the deleted photo: %v", page.status, strings.Contains(page.body, id))
	}
	if raw := get(t, phone, two.http+"/p/"+id+"?raw=1&openid=o_gallery"); raw.status != 403 || raw.body == string(jpg) {
		t.Errorf("the deleted photo on the other replica = %d, want 403 as an unknown photo", raw.status)
	}
}
