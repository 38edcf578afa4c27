package natsauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
)

// Revocation of live sessions. NATS checks a password only when a connection logs in, so a
// session opened before a device's password was rotated (or the device removed) would stay
// open until it reconnects. The service therefore remembers which connections it let in, with
// the hash they matched; when the users file changes so that a hash is no longer the one a
// connection logged in with, it closes that connection with the server's kick request
// ($SYS.REQ.SERVER.<server id>.KICK, {"cid":N}).
//
// Kick requests live in the system account. The service reaches it with a second, NATS-protocol
// connection as RevokeUser, which the auth callout itself places in the system account
// ($SYS), allowed to publish kick requests only. Its password is derived from the issuer seed,
// which every service of a cluster shares and nobody else holds, so any service may answer
// another's login and nats.conf needs no further user.
//
// A connection is remembered by the service that answered its login; that service closes it,
// whichever node it is connected to (system requests cross the cluster's routes). A service
// that restarts forgets the connections it let in before.

const (
	// RevokeUser is the NATS user the service closes revoked sessions with.
	RevokeUser = "_revoke"
	// systemAccount is nats-server's default system account (no system_account in nats.conf).
	systemAccount = "$SYS"
	kickSubject   = "$SYS.REQ.SERVER.%s.KICK"
	// maxSessions bounds the connections remembered per user: a device has one session at a
	// time (its client ID is its device ID), so the older ones are closed already.
	maxSessions = 8
)

// session is a connection the service let in with a password.
type session struct {
	user   string
	hash   string // the stored hash (or plain password) the login matched
	server string // the server ID (public nkey) the connection is on
	cid    uint64 // the connection's ID on that server
	tries  int    // kick requests that got no answer
}

// RevokePassword is RevokeUser's password: an HMAC of the issuer seed.
func RevokePassword(issuerSeed string) string {
	m := hmac.New(sha256.New, []byte(strings.TrimSpace(issuerSeed)))
	m.Write([]byte("fitmirror nats-auth revoke"))
	return hex.EncodeToString(m.Sum(nil))
}

// authorizeRevoker lets in a sibling service's revoke connection: NATS protocol, the derived
// password, placed in the system account and allowed to publish kick requests only.
func (s *Service) authorizeRevoker(req *jwt.AuthorizationRequestClaims) (string, string) {
	ci, co := req.ClientInformation, req.ConnectOptions
	if ci.Type != "nats" {
		return "", fmt.Sprintf("%s speaks the NATS protocol only, this is a %q connection", RevokeUser, ci.Type)
	}
	if subtle.ConstantTimeCompare([]byte(co.Password), []byte(s.revokePW)) != 1 {
		return "", "bad username or password"
	}
	uc := jwt.NewUserClaims(req.UserNkey)
	uc.Audience = systemAccount
	uc.Name = RevokeUser
	uc.Pub.Allow.Add(fmt.Sprintf(kickSubject, "*"))
	uc.Sub.Allow.Add("_INBOX.>")
	uc.AllowedConnectionTypes.Add(jwt.ConnectionTypeStandard)
	tok, err := uc.Encode(s.issuer)
	if err != nil {
		s.log.Error("nats-auth: cannot sign the user JWT", "user", RevokeUser, "err", err)
		return "", "the auth service cannot sign a user JWT"
	}
	return tok, ""
}

// remember records a connection let in with a password.
func (s *Service) remember(user, hash, server string, cid uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := append(s.sessions[user], session{user: user, hash: hash, server: server, cid: cid})
	if len(list) > maxSessions {
		list = list[len(list)-maxSessions:]
	}
	s.sessions[user] = list
}

// revokeChangedLocked moves the sessions whose user is gone, or whose stored hash is no longer
// the one they logged in with, to the revoked list. s.mu is held.
func (s *Service) revokeChangedLocked() {
	for user, list := range s.sessions {
		keep := list[:0]
		for _, c := range list {
			if s.users[user] == c.hash {
				keep = append(keep, c)
			} else {
				s.revoked = append(s.revoked, c)
			}
		}
		if len(keep) == 0 {
			delete(s.sessions, user)
		} else {
			s.sessions[user] = keep
		}
	}
}

// takeRevoked returns the sessions to close and empties the list.
func (s *Service) takeRevoked() []session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.revoked
	s.revoked = nil
	return out
}

// putBack returns sessions that could not be closed yet to the list.
func (s *Service) putBack(list []session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = append(list, s.revoked...)
}

// revoker watches the users file (once a second) and closes revoked sessions over a system
// account connection to servers, until stop is closed.
func (s *Service) revoker(servers []string, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	// The login waits for the callout, which this service (or a sibling) answers.
	rc, err := nats.Connect(strings.Join(servers, ","), nats.UserInfo(RevokeUser, s.revokePW),
		nats.Name("fitmirror nats-auth revoke"), nats.Timeout(15*time.Second), nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			s.log.Warn("nats-auth: revoke connection", "err", err)
		}))
	if err != nil {
		s.log.Error("nats-auth: no revoke connection: revoked sessions stay open until they reconnect", "err", err)
		return
	}
	defer rc.Close()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if err := s.reload(false); err != nil {
			s.log.Error("nats-auth: users file not read again; keeping the users read before", "err", err)
		}
		list := s.takeRevoked()
		if len(list) == 0 {
			continue
		}
		if !rc.IsConnected() {
			s.log.Warn("nats-auth: revoke connection down; closing revoked sessions when it is back", "sessions", len(list))
			s.putBack(list)
			continue
		}
		for _, c := range list {
			s.kick(rc, c)
		}
	}
}

// kick asks c's server to close it.
func (s *Service) kick(rc *nats.Conn, c session) {
	body, _ := json.Marshal(map[string]uint64{"cid": c.cid})
	m, err := rc.Request(fmt.Sprintf(kickSubject, c.server), body, 5*time.Second)
	if err != nil {
		// No answer: the server may be restarting (then the session is gone with it) or busy.
		if c.tries++; c.tries < 5 {
			s.putBack([]session{c})
		}
		s.log.Warn("nats-auth: revoked session not closed yet", "user", c.user, "server", c.server, "cid", c.cid, "tries", c.tries, "err", err)
		return
	}
	var res struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if json.Unmarshal(m.Data, &res) == nil && res.Error != nil {
		// Most often the connection is gone already ("no such client or leafnode id").
		s.log.Info("nats-auth: revoked session already closed", "user", c.user, "server", c.server, "cid", c.cid, "answer", res.Error.Description)
		return
	}
	s.log.Info("nats-auth: revoked session closed", "user", c.user, "server", c.server, "cid", c.cid)
}
