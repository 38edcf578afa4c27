package natsauth_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker/natsauth"
)

// bench is a service with its keys, users file and log, and a fake nats-server identity
// (server nkey and xkey) that builds requests as nats-server's auth_callout.go does.
type bench struct {
	t       testing.TB
	svc     *natsauth.Service
	keys    natsauth.Keys
	file    string
	log     *logBuf
	server  nkeys.KeyPair // signs the requests
	serverX nkeys.KeyPair // the server's xkey
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func usersFile(t *testing.T, prefix string, extra ...broker.NATSUser) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("m1-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	us := append([]broker.NATSUser{
		{Name: "m1", Password: string(h)},
		{Name: "m2", Password: "m2-pw"}, // plain, as on a test bench
		{Name: broker.HubUser, Password: "hub-pw"},
		{Name: broker.OpsUser, Password: "ops-pw"},
	}, extra...)
	conf, err := broker.NATSUsers(prefix, us)
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

func newBench(t *testing.T, prefix string, xkey bool) *bench {
	t.Helper()
	keys, err := natsauth.NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{t: t, keys: keys, file: filepath.Join(t.TempDir(), "fitmirror-users.conf"), log: &logBuf{}}
	if err := os.WriteFile(b.file, []byte(usersFile(t, prefix)), 0o600); err != nil {
		t.Fatal(err)
	}
	o := natsauth.Options{IssuerSeed: keys.IssuerSeed, UsersFile: b.file, TopicPrefix: prefix,
		Log: slog.New(slog.NewTextHandler(b.log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if xkey {
		o.XKeySeed = keys.XKeySeed
	}
	if b.svc, err = natsauth.New(o); err != nil {
		t.Fatal(err)
	}
	b.server, _ = nkeys.CreateServer()
	b.serverX, _ = nkeys.CreateCurveKeys()
	return b
}

// request is an authorization request as nats-server sends it; it returns the request, the
// xkey header (empty without encryption) and the user nkey the answer must be for.
func (b *bench) request(typ, user, password, clientID string, encrypt bool) ([]byte, string, string) {
	b.t.Helper()
	spub, _ := b.server.PublicKey()
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	rc := jwt.NewAuthorizationRequestClaims(b.keys.IssuerPublic) // as nats-server: auth_callout.issuer
	rc.Audience = "nats-authorization-request"
	rc.UserNkey = upub
	rc.Server = jwt.ServerID{Name: "nats1", ID: spub}
	rc.ClientInformation = jwt.ClientInformation{Host: "192.0.2.7", ID: 9, User: user, Kind: "Client", Type: typ, MQTT: clientID}
	rc.ConnectOptions = jwt.ConnectOptions{Username: user, Password: password}
	rc.Expires = time.Now().Add(5 * time.Second).Unix()
	tok, err := rc.Encode(b.server)
	if err != nil {
		b.t.Fatal(err)
	}
	if !encrypt {
		return []byte(tok), "", upub
	}
	xpub, _ := b.serverX.PublicKey()
	sealed, err := b.serverX.Seal([]byte(tok), b.keys.XKeyPublic)
	if err != nil {
		b.t.Fatal(err)
	}
	return sealed, xpub, upub
}

// verdict checks the answer as nats-server does and returns the user claims or the error.
func (b *bench) verdict(answer []byte, encrypted bool, upub string) (*jwt.UserClaims, string) {
	b.t.Helper()
	if encrypted {
		opened, err := b.serverX.Open(answer, b.keys.XKeyPublic)
		if err != nil {
			b.t.Fatalf("answer not encrypted for the server: %v (%q)", err, answer)
		}
		answer = opened
	}
	res, err := jwt.DecodeAuthorizationResponseClaims(string(answer))
	if err != nil {
		b.t.Fatalf("answer is no authorization response: %v (%q)", err, answer)
	}
	vr := jwt.CreateValidationResults()
	res.Validate(vr)
	spub, _ := b.server.PublicKey()
	switch {
	case len(vr.Issues) > 0:
		b.t.Fatalf("answer invalid: %v", vr.Issues[0])
	case res.Issuer != b.keys.IssuerPublic || res.Subject != upub || res.Audience != spub:
		b.t.Fatalf("answer issuer/subject/audience %s/%s/%s, want %s/%s/%s", res.Issuer, res.Subject, res.Audience, b.keys.IssuerPublic, upub, spub)
	case res.Error != "":
		return nil, res.Error
	}
	uc, err := jwt.DecodeUserClaims(res.Jwt)
	if err != nil {
		b.t.Fatalf("user JWT: %v", err)
	}
	if uc.Issuer != b.keys.IssuerPublic || uc.Subject != upub || uc.Audience != "$G" || uc.Expires != 0 {
		b.t.Errorf("user JWT issuer/subject/audience/expires %s/%s/%s/%d", uc.Issuer, uc.Subject, uc.Audience, uc.Expires)
	}
	if !reflect.DeepEqual([]string(uc.AllowedConnectionTypes), []string{jwt.ConnectionTypeMqtt}) {
		b.t.Errorf("connection types %v, want MQTT only", uc.AllowedConnectionTypes)
	}
	return uc, ""
}

// TestAnswer: a device logs in only with its password and its own ID as client ID and gets
// its own topics; service accounts pick any client ID and get their rules; the rest is
// refused with the reason logged.
func TestAnswer(t *testing.T) {
	for _, xkey := range []bool{false, true} {
		b := newBench(t, "", xkey)
		for _, tt := range []struct {
			typ, user, pw, cid string
			refusal            string
			pub, sub           []string
		}{
			{"mqtt", "m1", "m1-pw", "m1", "", []string{"mirror.m1", "mirror.m1.>"}, []string{"mirror.m1", "mirror.m1.>"}},
			{"mqtt", "m2", "m2-pw", "m2", "", []string{"mirror.m2", "mirror.m2.>"}, []string{"mirror.m2", "mirror.m2.>"}},
			{"mqtt", "m2", "m2-pw", "m1", `client ID "m1" is not the device ID "m2"`, nil, nil},
			{"mqtt", "m2", "m2-pw", "", `client ID "" is not the device ID "m2"`, nil, nil},
			{"mqtt", "m1", "m2-pw", "m1", "bad username or password", nil, nil},
			{"mqtt", "m1", "", "m1", "bad username or password", nil, nil},
			{"mqtt", "m3", "m1-pw", "m3", "bad username or password", nil, nil},
			{"nats", "m1", "m1-pw", "", `MQTT only, this is a "nats" connection`, nil, nil},
			{"mqtt", broker.OpsUser, "ops-pw", "ops-laptop-1", "",
				[]string{"mirror.*.cmd.*", "mirror.*.config.desired", "homeassistant", "homeassistant.>"},
				[]string{"mirror", "mirror.>", "homeassistant", "homeassistant.>"}},
			{"mqtt", broker.HubUser, "hub-pw", "mirror-cloud-a", "", []string{"mirror.*.binding", "mirror.*.cmd.*", "mirror.*.config.desired"},
				[]string{"mirror.*.status", "mirror.*.telemetry", "mirror.*.events", "mirror.*.cmd.*.result", "mirror.*.config.reported", "mirror.*.config.desired"}},
			{"mqtt", broker.HubUser, "ops-pw", "mirror-cloud-a", "bad username or password", nil, nil},
		} {
			req, hdr, upub := b.request(tt.typ, tt.user, tt.pw, tt.cid, xkey)
			uc, refusal := b.verdict(b.svc.Answer(req, hdr), xkey, upub)
			if tt.refusal != "" {
				if !strings.Contains(refusal, tt.refusal) {
					t.Errorf("xkey %v, %s/%s as %q: refusal %q, want %q", xkey, tt.user, tt.pw, tt.cid, refusal, tt.refusal)
				}
				if !strings.Contains(b.log.String(), `msg="nats-auth: connection refused" user=`+tt.user+` client_id="`+tt.cid+`" host=192.0.2.7`) &&
					!strings.Contains(b.log.String(), `msg="nats-auth: connection refused" user=`+tt.user+` client_id=`+tt.cid+` host=192.0.2.7`) {
					t.Errorf("refusal of %s as %q not logged with user, client ID and host:\n%s", tt.user, tt.cid, b.log)
				}
				continue
			}
			if uc == nil {
				t.Errorf("xkey %v, %s as %q refused: %s", xkey, tt.user, tt.cid, refusal)
				continue
			}
			if !reflect.DeepEqual([]string(uc.Pub.Allow), tt.pub) || !reflect.DeepEqual([]string(uc.Sub.Allow), tt.sub) ||
				len(uc.Pub.Deny) != 0 || len(uc.Sub.Deny) != 0 {
				t.Errorf("%s: pub %v sub %v, want %v %v", tt.user, uc.Pub, uc.Sub, tt.pub, tt.sub)
			}
			if want, _ := broker.NATSPermissions("", tt.user); !reflect.DeepEqual([]string(uc.Pub.Allow), want) {
				t.Errorf("%s: publish %v differs from broker.NATSPermissions %v", tt.user, uc.Pub.Allow, want)
			}
			if uc.Name != tt.user {
				t.Errorf("user JWT name %q, want %q", uc.Name, tt.user)
			}
		}
	}
}

// TestAnswerOtherIssuer: a node whose nats.conf names another issuer gets a refusal, and the
// service says what is wrong.
func TestAnswerOtherIssuer(t *testing.T) {
	b := newBench(t, "", false)
	other := newBench(t, "", false)
	req, _, upub := other.request("mqtt", "m1", "m1-pw", "m1", false)
	b.server = other.server
	if uc, refusal := b.verdict(b.svc.Answer(req, ""), false, upub); uc != nil || !strings.Contains(refusal, "is not this auth service's issuer") {
		t.Errorf("request for another issuer: refusal %q", refusal)
	}
	if !strings.Contains(b.log.String(), "the node trusts another issuer key") || !strings.Contains(b.log.String(), "node_issuer="+other.keys.IssuerPublic) {
		t.Errorf("issuer mismatch not logged:\n%s", b.log)
	}
}

// TestAnswerTopicPrefix: the permissions follow mqtt.topic_prefix.
func TestAnswerTopicPrefix(t *testing.T) {
	b := newBench(t, "shop", false)
	req, _, upub := b.request("mqtt", "m1", "m1-pw", "m1", false)
	uc, refusal := b.verdict(b.svc.Answer(req, ""), false, upub)
	if uc == nil {
		t.Fatal(refusal)
	}
	if want := []string{"shop.m1", "shop.m1.>"}; !reflect.DeepEqual([]string(uc.Sub.Allow), want) {
		t.Errorf("subscribe %v, want %v", uc.Sub.Allow, want)
	}
}

// TestAnswerMalformed: whatever arrives, the service answers with an error and goes on.
func TestAnswerMalformed(t *testing.T) {
	b := newBench(t, "", true)
	good, hdr, _ := b.request("mqtt", "m1", "m1-pw", "m1", true)
	clear, _, _ := b.request("mqtt", "m1", "m1-pw", "m1", false)
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	akp, _ := nkeys.CreateAccount()
	userJWT, _ := jwt.NewUserClaims(upub).Encode(akp) // a JWT, but no request
	sealedUser, _ := b.serverX.Seal([]byte(userJWT), b.keys.XKeyPublic)
	other, _ := nkeys.CreateCurveKeys()
	otherPub, _ := other.PublicKey()
	spub, _ := b.server.PublicKey()
	expired := jwt.NewAuthorizationRequestClaims(b.keys.IssuerPublic)
	expired.UserNkey = upub
	expired.Server = jwt.ServerID{Name: "nats1", ID: spub}
	expired.Expires = time.Now().Add(-time.Minute).Unix()
	expiredTok, _ := expired.Encode(b.server)
	sealedExpired, _ := b.serverX.Seal([]byte(expiredTok), b.keys.XKeyPublic)
	noNkey := jwt.NewAuthorizationRequestClaims(b.keys.IssuerPublic)
	noNkeyTok, _ := noNkey.Encode(b.server)
	sealedNoNkey, _ := b.serverX.Seal([]byte(noNkeyTok), b.keys.XKeyPublic)
	for _, tt := range []struct {
		name string
		data []byte
		hdr  string
		want string
	}{
		{"empty", nil, hdr, "cannot decrypt"},
		{"garbage", []byte("\x00\xffnot a request"), hdr, "cannot decrypt"},
		{"not encrypted", clear, "", "not encrypted"},
		{"bad xkey header", good, "XNOTAKEY", "is not a curve public key"},
		{"encrypted for another key", good, otherPub, "cannot decrypt"},
		{"user JWT", sealedUser, hdr, "malformed"},
		{"expired", sealedExpired, hdr, "expired"},
		{"no user nkey", sealedNoNkey, hdr, "nkey"},
	} {
		ans := string(b.svc.Answer(tt.data, tt.hdr))
		if !strings.HasPrefix(ans, "fitmirror nats-auth: malformed authorization request") || !strings.Contains(ans, tt.want) {
			t.Errorf("%s: answer %q, want a malformed-request error with %q", tt.name, ans, tt.want)
		}
	}
	if !strings.Contains(b.log.String(), "malformed authorization request") {
		t.Errorf("malformed requests not logged:\n%s", b.log)
	}
	// Still serving.
	req, h, up := b.request("mqtt", "m1", "m1-pw", "m1", true)
	if uc, refusal := b.verdict(b.svc.Answer(req, h), true, up); uc == nil {
		t.Errorf("after the malformed requests m1 is refused: %s", refusal)
	}
	noX := newBench(t, "", false)
	if ans := string(noX.svc.Answer(good, hdr)); !strings.Contains(ans, "encrypted, but this service has no xkey") {
		t.Errorf("encrypted request to a service without xkey: %q", ans)
	}
}

// TestUsersFileReload: a device added to the users file may log in without a restart; a
// users file that no longer parses keeps the users read before.
func TestUsersFileReload(t *testing.T) {
	b := newBench(t, "", false)
	try := func(user, pw string) string {
		req, _, upub := b.request("mqtt", user, pw, user, false)
		_, refusal := b.verdict(b.svc.Answer(req, ""), false, upub)
		return refusal
	}
	if r := try("m9", "m9-pw"); r == "" {
		t.Fatal("m9 logged in before it was added")
	}
	time.Sleep(1100 * time.Millisecond) // the file is looked at at most once a second
	if err := os.WriteFile(b.file, []byte(usersFile(t, "", broker.NATSUser{Name: "m9", Password: "m9-pw"})), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := try("m9", "m9-pw"); r != "" {
		t.Fatalf("m9 refused after it was added: %s", r)
	}
	time.Sleep(1100 * time.Millisecond)
	if err := os.WriteFile(b.file, []byte("authorization { users = [ {user: \"Bad Name\", password: x} ] }"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := try("m9", "m9-pw"); r != "" {
		t.Errorf("m9 refused after a bad users file: %s", r)
	}
	if !strings.Contains(b.log.String(), "users file not read again") || !strings.Contains(b.log.String(), "Bad Name") {
		t.Errorf("bad users file not reported:\n%s", b.log)
	}
}

func TestNewRefuses(t *testing.T) {
	keys, _ := natsauth.NewKeys()
	file := filepath.Join(t.TempDir(), "users.conf")
	os.WriteFile(file, []byte(usersFile(t, "")), 0o600)
	for _, tt := range []struct {
		o    natsauth.Options
		want string
	}{
		{natsauth.Options{IssuerSeed: "SAnope", UsersFile: file}, "issuer seed"},
		{natsauth.Options{IssuerSeed: keys.XKeySeed, UsersFile: file}, "issuer seed"},
		{natsauth.Options{IssuerSeed: keys.IssuerSeed, XKeySeed: keys.IssuerSeed, UsersFile: file}, "xkey seed"},
		{natsauth.Options{IssuerSeed: keys.IssuerSeed, UsersFile: file + ".missing"}, "no such file"},
		{natsauth.Options{IssuerSeed: keys.IssuerSeed, UsersFile: file, TopicPrefix: "a/b"}, "one topic level"},
	} {
		if _, err := natsauth.New(tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", tt.o, err, tt.want)
		}
	}
}

// TestServerConfig: nats-server accepts what ServerConfig writes as the authorization of a
// node, with the callout's issuer, xkey and the service's login.
func TestServerConfig(t *testing.T) {
	keys, _ := natsauth.NewKeys()
	hash, _ := bcrypt.GenerateFromPassword([]byte("svc-pw"), bcrypt.MinCost)
	conf, err := natsauth.ServerConfig(keys.IssuerPublic, keys.XKeyPublic, string(hash))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "fitmirror-auth.conf"), []byte(conf), 0o600)
	os.WriteFile(filepath.Join(dir, "nats.conf"), []byte("listen: 127.0.0.1:-1\ninclude ./fitmirror-auth.conf\n"), 0o600)
	o, err := server.ProcessConfigFile(filepath.Join(dir, "nats.conf"))
	if err != nil {
		t.Fatalf("%v\n%s", err, conf)
	}
	ac := o.AuthCallout
	if ac == nil || ac.Issuer != keys.IssuerPublic || ac.XKey != keys.XKeyPublic || !reflect.DeepEqual(ac.AuthUsers, []string{natsauth.AuthUser}) {
		t.Errorf("auth_callout = %+v", ac)
	}
	if len(o.Users) != 1 || o.Users[0].Username != natsauth.AuthUser || o.Users[0].Password != string(hash) {
		t.Fatalf("users = %+v", o.Users)
	}
	if p := o.Users[0].Permissions; p == nil || !reflect.DeepEqual(p.Subscribe.Allow, []string{natsauth.Subject}) ||
		!reflect.DeepEqual(p.Publish.Allow, []string{"$SYS._INBOX.>"}) {
		t.Errorf("service permissions = %+v", p)
	}
	if o.AuthTimeout != 5 {
		t.Errorf("auth timeout %v, want 5s", o.AuthTimeout)
	}
	if _, err := natsauth.ServerConfig(keys.XKeyPublic, "", "h"); err == nil {
		t.Error("ServerConfig took a curve key as issuer")
	}
}

// TestServeOverNATS: the service on a real nats-server answers requests in its queue group,
// survives malformed ones, and stops cleanly.
func TestServeOverNATS(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	defer srv.Shutdown()
	b := newBench(t, "", true)
	nc, err := natsauth.Connect([]string{srv.ClientURL()}, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	stop, err := b.svc.Start(nc)
	if err != nil {
		t.Fatal(err)
	}
	client, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, junk := range [][]byte{nil, []byte("garbage"), bytes.Repeat([]byte{0xff}, 70000)} {
		m := nats.NewMsg(natsauth.Subject)
		m.Data = junk
		m.Header.Set("Nats-Server-Xkey", "junk")
		resp, err := client.RequestMsg(m, 5*time.Second)
		if err != nil {
			t.Fatalf("no answer to a malformed request: %v", err)
		}
		if !strings.Contains(string(resp.Data), "malformed authorization request") {
			t.Errorf("answer to junk: %q", resp.Data)
		}
	}
	req, hdr, upub := b.request("mqtt", "m1", "m1-pw", "m1", true)
	m := nats.NewMsg(natsauth.Subject)
	m.Data = req
	m.Header.Set("Nats-Server-Xkey", hdr)
	resp, err := client.RequestMsg(m, 5*time.Second)
	if err != nil {
		t.Fatalf("no answer after the malformed requests: %v", err)
	}
	if uc, refusal := b.verdict(resp.Data, true, upub); uc == nil {
		t.Errorf("m1 refused: %s", refusal)
	}
	stop()
	if _, err := client.RequestMsg(m, 300*time.Millisecond); err == nil {
		t.Error("an answer after stop")
	}
}

// TestAnswerRevoker: the service's own revoke connection (RevokeUser, with the password derived
// from the issuer seed, on the NATS protocol) is placed in the system account and may publish
// kick requests only; with another password, or over MQTT, it is refused.
func TestAnswerRevoker(t *testing.T) {
	b := newBench(t, "", false)
	pw := natsauth.RevokePassword(b.keys.IssuerSeed)
	for _, tt := range []struct{ typ, pw, refusal string }{
		{"nats", "m1-pw", "bad username or password"},
		{"nats", natsauth.RevokePassword(newBench(t, "", false).keys.IssuerSeed), "bad username or password"},
		{"mqtt", pw, `NATS protocol only, this is a "mqtt" connection`},
	} {
		req, _, upub := b.request(tt.typ, natsauth.RevokeUser, tt.pw, "", false)
		if uc, refusal := b.verdict(b.svc.Answer(req, ""), false, upub); uc != nil || !strings.Contains(refusal, tt.refusal) {
			t.Errorf("%s over %s: refusal %q, want %q", natsauth.RevokeUser, tt.typ, refusal, tt.refusal)
		}
	}
	req, _, upub := b.request("nats", natsauth.RevokeUser, pw, "", false)
	res, err := jwt.DecodeAuthorizationResponseClaims(string(b.svc.Answer(req, "")))
	if err != nil || res.Error != "" {
		t.Fatalf("revoker refused: %v %q", err, res.Error)
	}
	uc, err := jwt.DecodeUserClaims(res.Jwt)
	if err != nil {
		t.Fatal(err)
	}
	if uc.Subject != upub || uc.Audience != "$SYS" || uc.Name != natsauth.RevokeUser {
		t.Errorf("revoker JWT subject/audience/name %s/%s/%s, want %s/$SYS/%s", uc.Subject, uc.Audience, uc.Name, upub, natsauth.RevokeUser)
	}
	if !reflect.DeepEqual([]string(uc.Pub.Allow), []string{"$SYS.REQ.SERVER.*.KICK"}) || !reflect.DeepEqual([]string(uc.Sub.Allow), []string{"_INBOX.>"}) {
		t.Errorf("revoker permissions pub %v sub %v, want kick requests and their answers only", uc.Pub.Allow, uc.Sub.Allow)
	}
	if !reflect.DeepEqual([]string(uc.AllowedConnectionTypes), []string{jwt.ConnectionTypeStandard}) {
		t.Errorf("revoker connection types %v, want STANDARD only", uc.AllowedConnectionTypes)
	}
}
