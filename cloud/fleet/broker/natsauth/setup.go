package natsauth

import (
	"fmt"
	"strconv"

	"github.com/nats-io/nkeys"
)

// Keys are a deployment's keys: the issuer signs the users' JWTs (nats.conf trusts its
// public key), the xkey encrypts the requests (which carry the passwords) and answers.
type Keys struct {
	IssuerSeed, IssuerPublic string // SA…, A…
	XKeySeed, XKeyPublic     string // SX…, X…
}

// NewKeys makes a new issuer account key and a new xkey.
func NewKeys() (Keys, error) {
	acc, err := nkeys.CreateAccount()
	if err != nil {
		return Keys{}, err
	}
	cur, err := nkeys.CreateCurveKeys()
	if err != nil {
		return Keys{}, err
	}
	var k Keys
	seed, _ := acc.Seed()
	k.IssuerSeed = string(seed)
	k.IssuerPublic, _ = acc.PublicKey()
	seed, _ = cur.Seed()
	k.XKeySeed = string(seed)
	k.XKeyPublic, _ = cur.PublicKey()
	return k, nil
}

// ServerConfig is fitmirror-auth.conf, the authorization block that nats.conf includes on
// every node: the service's own NATS login (AuthUser, with passwordHash, a bcrypt hash of its
// password; NATS protocol only, allowed only to take requests and answer them) and the
// auth_callout block that sends every other connection to the service. xkeyPublic may be
// empty (no encryption).
func ServerConfig(issuerPublic, xkeyPublic, passwordHash string) (string, error) {
	if !nkeys.IsValidPublicAccountKey(issuerPublic) {
		return "", fmt.Errorf("natsauth: issuer %q is not an account public key", issuerPublic)
	}
	if xkeyPublic != "" && !nkeys.IsValidPublicCurveKey(xkeyPublic) {
		return "", fmt.Errorf("natsauth: xkey %q is not a curve public key", xkeyPublic)
	}
	xkey := ""
	if xkeyPublic != "" {
		xkey = "    # requests (they carry the passwords) and answers are encrypted for this key\n" +
			"    xkey: " + strconv.Quote(xkeyPublic) + "\n"
	}
	return `# fitmirror fleet authentication for nats.conf (written by mirror-cloud nats-auth init).
# Every connection except the auth service's own is sent to the auth callout service
# (mirror-cloud nats-auth, one beside each node), which checks the password against
# fitmirror-users.conf, refuses a device whose MQTT client ID is not its device ID, and grants
# each user its own topics only.
authorization {
  # seconds a client (and the callout, bcrypt included) has to complete its login
  timeout: 5
  users: [
    {user: ` + strconv.Quote(AuthUser) + `, password: ` + strconv.Quote(passwordHash) + `, allowed_connection_types: ["STANDARD"],
     permissions: {publish: {allow: ["$SYS._INBOX.>"]}, subscribe: {allow: [` + strconv.Quote(Subject) + `]}}}
  ]
  auth_callout {
    # the public key of the service's issuer_seed: only JWTs it signed are accepted
    issuer: ` + strconv.Quote(issuerPublic) + `
` + xkey + `    auth_users: [` + strconv.Quote(AuthUser) + `]
  }
}
`, nil
}
