// Package natsauth is the fleet's NATS auth callout: the service a NATS cluster asks, on
// $SYS.REQ.USER.AUTH, whether a connection may log in and with which permissions.
//
// It checks the username and password against the users file broker.NATSUsers writes
// (fitmirror-users.conf, bcrypt hashes) or takes a device's ID from the CN of the client
// certificate the node verified, refuses a device whose MQTT client ID is not its
// device ID (so no device can take over or bump another's session: mosquitto's
// use_username_as_clientid, which NATS lacks), lets the service accounts (_hub, _ops,
// _homeassistant) pick their client IDs, and answers with a user JWT, signed by the issuer
// key nats.conf names, that grants exactly broker.NATSPermissions. Requests and answers are
// encrypted with the xkey (curve key) when one is configured, so the passwords they carry never
// cross the cluster's routes in clear.
package natsauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/internal/wire"
)

const (
	// Subject is where nats-server sends its authorization requests.
	Subject = "$SYS.REQ.USER.AUTH"
	// Queue is the queue group of the services: with one service per node, each request is
	// answered once, by the service on the node that asks whenever it is up.
	Queue = "fitmirror-auth"
	// AuthUser is the NATS account the service logs in with (auth_users in nats.conf).
	AuthUser = "_auth"
	// globalAccount is where the fleet's users are placed: the account nats.conf's JetStream
	// and MQTT sessions live in when it defines no accounts.
	globalAccount = "$G"
	xkeyHeader    = "Nats-Server-Xkey"
)

// Options configures a Service.
type Options struct {
	// IssuerSeed is the account nkey seed ("SA…") whose public key is auth_callout.issuer.
	IssuerSeed string
	// XKeySeed is the curve key seed ("SX…") whose public key is auth_callout.xkey; empty when
	// nats.conf sets no xkey (requests then arrive in clear).
	XKeySeed string
	// UsersFile is fitmirror-users.conf as broker.NATSUsers writes it. It is read again when
	// it changes (checked at most once a second), so adding a device needs no restart.
	UsersFile string
	// TopicPrefix is mqtt.topic_prefix of the fleet ("" = "mirror").
	TopicPrefix string
	// Log gets every refusal (warning) and grant (debug); default slog.Default().
	Log *slog.Logger
}

// Service answers authorization requests.
type Service struct {
	issuer nkeys.KeyPair
	xkey   nkeys.KeyPair // nil: no encryption
	prefix string
	file   string
	log    *slog.Logger

	mu       sync.Mutex
	users    map[string]string // name → bcrypt hash or plain password
	stamp    fileStamp
	checked  time.Time
	verified map[string][32]byte  // name → digest of the hash and the password bcrypt accepted
	sessions map[string][]session // name → the connections this service let in with a password
	revoked  []session            // sessions whose credentials changed, still to be closed
	revokePW string               // the password of RevokeUser (derived from the issuer seed)
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// New checks the keys and reads the users file.
func New(o Options) (*Service, error) {
	issuer, err := nkeys.FromSeed([]byte(strings.TrimSpace(o.IssuerSeed)))
	if err != nil {
		return nil, fmt.Errorf("natsauth: issuer seed: %w", err)
	}
	if pub, _ := issuer.PublicKey(); !nkeys.IsValidPublicAccountKey(pub) {
		return nil, errors.New("natsauth: issuer seed: want an account seed (SA…)")
	}
	s := &Service{issuer: issuer, prefix: o.TopicPrefix, file: o.UsersFile, log: o.Log, verified: map[string][32]byte{},
		sessions: map[string][]session{}, revokePW: RevokePassword(o.IssuerSeed)}
	if s.prefix == "" {
		s.prefix = "mirror"
	}
	if strings.ContainsAny(s.prefix, "/+#.*> \t") {
		return nil, fmt.Errorf("natsauth: topic prefix %q must be one topic level", s.prefix)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if o.XKeySeed != "" {
		if s.xkey, err = nkeys.FromCurveSeed([]byte(strings.TrimSpace(o.XKeySeed))); err != nil {
			return nil, fmt.Errorf("natsauth: xkey seed: want a curve seed (SX…): %w", err)
		}
	}
	if err := s.reload(true); err != nil {
		return nil, err
	}
	return s, nil
}

// IssuerPublicKey is auth_callout.issuer in nats.conf.
func (s *Service) IssuerPublicKey() string { pub, _ := s.issuer.PublicKey(); return pub }

// reload reads the users file if it changed; force reads it in any case. A file that fails to
// parse keeps the users read before (and is reported).
func (s *Service) reload(force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !force && time.Since(s.checked) < time.Second {
		return nil
	}
	s.checked = time.Now()
	fi, err := os.Stat(s.file)
	if err != nil {
		return fmt.Errorf("natsauth: %w", err)
	}
	stamp := fileStamp{fi.ModTime(), fi.Size()}
	if !force && stamp == s.stamp {
		return nil
	}
	list, err := broker.ReadNATSUsers(s.file)
	if err != nil {
		return fmt.Errorf("natsauth: %w", err)
	}
	users := make(map[string]string, len(list))
	for _, u := range list {
		users[u.Name] = u.Password
	}
	s.users, s.stamp = users, stamp
	s.revokeChangedLocked()
	s.log.Info("nats-auth: users file read", "file", s.file, "users", len(users))
	return nil
}

// Start subscribes the service on nc (in the queue group Queue), starts closing revoked
// sessions (revoke.go) over a second connection to nc's servers, and returns a function that
// stops both and waits for the requests in flight. When nc is connected, the server has the
// subscription when Start returns; otherwise nc makes it once it connects. Passwords are
// checked on up to GOMAXPROCS goroutines at once; requests beyond that wait in nc's buffer.
func (s *Service) Start(nc *nats.Conn) (stop func(), err error) {
	slots := make(chan struct{}, runtime.GOMAXPROCS(0))
	var (
		mu      sync.Mutex
		stopped bool
		wg      sync.WaitGroup
	)
	sub, err := nc.QueueSubscribe(Subject, Queue, func(m *nats.Msg) {
		mu.Lock()
		if stopped {
			mu.Unlock()
			return
		}
		wg.Add(1)
		mu.Unlock()
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			s.handle(m)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("natsauth: subscribe %s: %w", Subject, err)
	}
	if nc.IsConnected() {
		if err := nc.FlushTimeout(10 * time.Second); err != nil {
			sub.Unsubscribe()
			return nil, fmt.Errorf("natsauth: subscribe %s: %w", Subject, err)
		}
	}
	servers := nc.Opts.Servers
	if len(servers) == 0 {
		servers = []string{nc.Opts.Url}
	}
	revStop, revDone := make(chan struct{}), make(chan struct{})
	go s.revoker(servers, revStop, revDone)
	return func() {
		close(revStop)
		<-revDone
		sub.Unsubscribe()
		mu.Lock()
		stopped = true
		mu.Unlock()
		wg.Wait()
	}, nil
}

// Connect logs in to the NATS nodes at urls (their client listener, nats://127.0.0.1:4222 on
// the node itself) as user, and keeps trying and reconnecting for as long as it is open.
func Connect(urls []string, user, password string, log *slog.Logger) (*nats.Conn, error) {
	if log == nil {
		log = slog.Default()
	}
	// Timeout: the node checks the service's bcrypt hash before it answers the handshake (at
	// cost 11 that takes long on a loaded machine); nats.go's default of 2 s would give up and
	// try again forever.
	return nats.Connect(strings.Join(urls, ","), nats.UserInfo(user, password), nats.Name("fitmirror nats-auth"),
		nats.Timeout(15*time.Second), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		nats.ConnectHandler(func(nc *nats.Conn) { log.Info("nats-auth: connected", "url", nc.ConnectedUrlRedacted()) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats-auth: reconnected", "url", nc.ConnectedUrlRedacted()) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats-auth: disconnected", "err", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Warn("nats-auth: NATS error", "err", err) }))
}

// handle answers one request message; it never panics on bad input.
func (s *Service) handle(m *nats.Msg) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("nats-auth: request handling failed", "panic", r)
		}
	}()
	if m.Reply == "" {
		s.log.Warn("nats-auth: request without a reply subject ignored")
		return
	}
	if err := m.Respond(s.Answer(m.Data, m.Header.Get(xkeyHeader))); err != nil {
		s.log.Warn("nats-auth: answer not sent", "err", err)
	}
}

// Answer is the reply to one authorization request (data as it arrived, serverXKey the
// Nats-Server-Xkey header): a signed authorization response that carries either the user's
// JWT or the reason for the refusal, encrypted for the server when the request was. A request
// that cannot be read gets a plain-text error (the server takes it as a refusal).
func (s *Service) Answer(data []byte, serverXKey string) []byte {
	req, err := s.decode(data, serverXKey)
	if err != nil {
		s.log.Warn("nats-auth: malformed authorization request", "err", err)
		return []byte("fitmirror nats-auth: malformed authorization request: " + err.Error())
	}
	ci, co := req.ClientInformation, req.ConnectOptions
	res := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	res.Audience = req.Server.ID
	user, how := co.Username, "password"
	if user == "" && co.Password == "" {
		how = "certificate"
		if cn, err := certificateName(req.TLS); err == nil {
			user = cn
		}
	}
	if userJWT, why := s.authorize(req); why != "" {
		s.log.Warn("nats-auth: connection refused", "user", user, "client_id", ci.MQTT,
			"host", ci.Host, "server", req.Server.Name, "reason", why, "auth", how)
		res.Error = why
	} else {
		s.log.Debug("nats-auth: connection allowed", "user", user, "client_id", ci.MQTT,
			"host", ci.Host, "server", req.Server.Name, "auth", how)
		res.Jwt = userJWT
	}
	tok, err := res.Encode(s.issuer)
	if err != nil { // only with a request the checks above let through by mistake
		s.log.Error("nats-auth: cannot sign the answer", "err", err)
		return []byte("fitmirror nats-auth: cannot sign the answer: " + err.Error())
	}
	if s.xkey != nil && serverXKey != "" {
		sealed, err := s.xkey.Seal([]byte(tok), serverXKey)
		if err != nil {
			s.log.Error("nats-auth: cannot encrypt the answer", "err", err)
			return []byte("fitmirror nats-auth: cannot encrypt the answer: " + err.Error())
		}
		return sealed
	}
	return []byte(tok)
}

// decode opens and verifies a request: signed by a server, for a user nkey, not expired.
func (s *Service) decode(data []byte, serverXKey string) (*jwt.AuthorizationRequestClaims, error) {
	switch {
	case s.xkey != nil && serverXKey == "":
		return nil, errors.New("not encrypted, but this service has an xkey (set auth_callout.xkey in nats.conf)")
	case s.xkey == nil && serverXKey != "":
		return nil, errors.New("encrypted, but this service has no xkey seed")
	case s.xkey != nil:
		if !nkeys.IsValidPublicCurveKey(serverXKey) {
			return nil, fmt.Errorf("%s header %q is not a curve public key", xkeyHeader, serverXKey)
		}
		opened, err := s.xkey.Open(data, serverXKey)
		if err != nil {
			return nil, fmt.Errorf("cannot decrypt: %w", err)
		}
		data = opened
	}
	req, err := jwt.DecodeAuthorizationRequestClaims(string(data))
	if err != nil {
		return nil, err
	}
	vr := jwt.CreateValidationResults()
	req.Validate(vr)
	switch {
	case len(vr.Errors()) > 0:
		return nil, vr.Errors()[0]
	case !nkeys.IsValidPublicUserKey(req.UserNkey):
		return nil, errors.New("user_nkey is not a user public key")
	case !nkeys.IsValidPublicServerKey(req.Server.ID):
		return nil, errors.New("server_id is not a server public key")
	case req.Expires != 0 && time.Unix(req.Expires, 0).Before(time.Now()):
		return nil, errors.New("expired (the server gave up waiting)")
	}
	return req, nil
}

// authorize returns the user JWT for the request, or why it is refused.
func (s *Service) authorize(req *jwt.AuthorizationRequestClaims) (userJWT, refusal string) {
	ci, co := req.ClientInformation, req.ConnectOptions
	user := co.Username
	if issuer := s.IssuerPublicKey(); req.Subject != issuer {
		// In nats.conf's mode (no operator) the request's subject is auth_callout.issuer.
		s.log.Error("nats-auth: the node trusts another issuer key: its auth_callout.issuer is not this service's issuer_seed; it refuses every login until they match",
			"node_issuer", req.Subject, "service_issuer", issuer, "server", req.Server.Name)
		return "", fmt.Sprintf("the node's auth_callout.issuer %s is not this auth service's issuer %s", req.Subject, issuer)
	}
	if user == RevokeUser {
		return s.authorizeRevoker(req)
	}
	if ci.Type != "mqtt" {
		return "", fmt.Sprintf("fitmirror users speak MQTT only, this is a %q connection", ci.Type)
	}
	if err := s.reload(false); err != nil {
		s.log.Error("nats-auth: users file not read again; keeping the users read before", "err", err)
	}
	if user == "" && co.Password == "" {
		// No password: a device's client certificate, verified by the node (mqtt.tls with
		// verify: true and the devices CA); its CN is the device ID, as mosquitto's
		// use_identity_as_username.
		cn, err := certificateName(req.TLS)
		if err != nil {
			return "", err.Error()
		}
		if !wire.ValidDeviceID(cn) {
			return "", fmt.Sprintf("client certificate CN %q is not a device ID (service accounts log in with passwords)", cn)
		}
		user = cn
	} else if stored, ok := s.checkPassword(user, co.Password); !ok {
		return "", "bad username or password"
	} else {
		defer func() {
			if refusal == "" {
				s.remember(user, stored, req.Server.ID, ci.ID)
			}
		}()
	}
	service := user == broker.HubUser || user == broker.OpsUser || user == broker.HAUser
	if !service && ci.MQTT != user {
		return "", fmt.Sprintf("client ID %q is not the device ID %q: a device connects with its own ID as client ID", ci.MQTT, user)
	}
	uc := jwt.NewUserClaims(req.UserNkey)
	uc.Audience = globalAccount
	uc.Name = user
	pub, sub := broker.NATSPermissions(s.prefix, user)
	uc.Pub.Allow.Add(pub...)
	uc.Sub.Allow.Add(sub...)
	uc.AllowedConnectionTypes.Add(jwt.ConnectionTypeMqtt)
	tok, err := uc.Encode(s.issuer)
	if err != nil {
		s.log.Error("nats-auth: cannot sign the user JWT", "user", user, "err", err)
		return "", "the auth service cannot sign a user JWT"
	}
	return tok, ""
}

// certificateName is the CN of the client certificate the node verified (the leaf of its first
// verified chain). Certificates the node did not verify (client_tls.certs) do not count.
func certificateName(t *jwt.ClientTLS) (string, error) {
	if t == nil || len(t.VerifiedChains) == 0 || len(t.VerifiedChains[0]) == 0 {
		return "", errors.New("no username and no verified client certificate (a certificate login needs mqtt.tls with verify: true and the devices CA)")
	}
	blk, _ := pem.Decode([]byte(t.VerifiedChains[0][0]))
	if blk == nil {
		return "", errors.New("the verified client certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return "", fmt.Errorf("the verified client certificate does not parse: %v", err)
	}
	return cert.Subject.CommonName, nil
}

// checkPassword checks password against user's bcrypt hash (or plain password, on a test
// bench). A password bcrypt accepted is remembered as a digest with its hash, so that a
// fleet reconnecting at once costs one bcrypt per device, not one per connection.
// It returns the stored hash it checked against.
func (s *Service) checkPassword(user, password string) (string, bool) {
	s.mu.Lock()
	stored, ok := s.users[user]
	s.mu.Unlock()
	if !ok || password == "" {
		return "", false
	}
	if !strings.HasPrefix(stored, "$2") {
		return stored, subtle.ConstantTimeCompare([]byte(stored), []byte(password)) == 1
	}
	digest := sha256.Sum256([]byte(stored + "\x00" + password))
	s.mu.Lock()
	known, ok := s.verified[user]
	s.mu.Unlock()
	if ok && subtle.ConstantTimeCompare(known[:], digest[:]) == 1 {
		return stored, true
	}
	if bcrypt.CompareHashAndPassword([]byte(stored), []byte(password)) != nil {
		return "", false
	}
	s.mu.Lock()
	s.verified[user] = digest
	s.mu.Unlock()
	return stored, true
}
