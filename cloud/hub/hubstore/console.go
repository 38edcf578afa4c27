package hubstore

import (
	"context"
	"time"
)

// ConsoleStore is what the fleet console (package cloud/console) keeps: its operators and
// their sessions, the audit log, the store (group) each mirror belongs to, and the state of
// each alert, so that replicas sharing a database share all of it. The sqlite and postgres
// stores implement it; storetest.RunConsole is its conformance suite.
type ConsoleStore interface {
	// AddOperator stores a new operator (ErrExists when the name is taken).
	AddOperator(ctx context.Context, o Operator) error
	Operator(ctx context.Context, name string) (Operator, error)
	// Operators lists every operator by name.
	Operators(ctx context.Context) ([]Operator, error)
	// SetOperatorHash replaces an operator's password hash (ErrNotFound when no such
	// operator) and ends its sessions.
	SetOperatorHash(ctx context.Context, name, hash string) error
	// RemoveOperator deletes an operator with its sessions (ErrNotFound when no such operator).
	RemoveOperator(ctx context.Context, name string) error

	// AddSession stores a login; Session returns it while it has not expired at now
	// (ErrNotFound otherwise); DeleteSession ends it (logout); PruneSessions forgets those
	// expired before t.
	AddSession(ctx context.Context, s ConsoleSession) error
	Session(ctx context.Context, id string, now time.Time) (ConsoleSession, error)
	DeleteSession(ctx context.Context, id string) error
	PruneSessions(ctx context.Context, before time.Time) error

	// AddAudit appends to the audit log; Audit lists its newest limit entries, newest first.
	AddAudit(ctx context.Context, a AuditEntry) error
	Audit(ctx context.Context, limit int) ([]AuditEntry, error)

	// SetMirrorStore puts a mirror in a store (group); "" takes it out. MirrorStores maps
	// every mirror placed in one to its store.
	SetMirrorStore(ctx context.Context, id, store string) error
	MirrorStores(ctx context.Context) (map[string]string, error)

	// FlipAlert moves the alert key to firing (or back) and reports whether this call changed
	// it: of replicas racing on one alert exactly one gets true, and only it sends the notice.
	// A recovery (firing=false) of an alert that never fired changes nothing. When it changes
	// the alert, notices join the outbox in the same transaction (so a flip is never without
	// its notices), leased as each says.
	FlipAlert(ctx context.Context, key string, firing bool, at time.Time, notices ...AlertNotice) (bool, error)

	// The alert outbox: the notices not yet delivered. A notice is worked by the replica
	// whose lease on it runs; when a lease ends (its replica died), another claims it.
	//
	// ClaimAlertNotices leases to owner, until now+lease, at most limit notices whose lease
	// ended by now, oldest first; each is claimed by one caller.
	ClaimAlertNotices(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]AlertNotice, error)
	// LeaseAlertNotice records owner's attempts at the notice id and holds its lease until
	// until; false when owner no longer holds it (it is gone or another replica claimed it).
	LeaseAlertNotice(ctx context.Context, id, owner string, attempts int, until time.Time) (bool, error)
	// DeleteAlertNotice takes a delivered (or abandoned) notice out of the outbox, if owner
	// holds it.
	DeleteAlertNotice(ctx context.Context, id, owner string) error
}

// AlertNotice is one notice in the alert outbox: one alert or recovery for one channel.
type AlertNotice struct {
	ID         string
	Channel    string // "webhook", "email"
	Body       []byte // the notice, as the console encodes it
	Attempts   int    // tries made so far
	CreatedAt  time.Time
	Owner      string    // the replica that holds the lease
	LeaseUntil time.Time // until when it holds it
}

// Operator roles, each allowed what the one before it is.
const (
	RoleViewer   = "viewer"   // sees the fleet
	RoleOperator = "operator" // and sends commands, places mirrors in stores
	RoleAdmin    = "admin"    // and reads the audit log
)

// Operator is a person who logs in to the console. Only a bcrypt hash of the password is kept.
type Operator struct {
	Name      string
	Role      string
	Hash      string
	CreatedAt time.Time
}

// ConsoleSession is one login. ID is the SHA-256 (hex) of the cookie's token, so that the
// database does not hold what logs in; CSRF is the token state-changing requests must carry.
type ConsoleSession struct {
	ID        string
	Operator  string
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuditEntry is one operator action: who, what (and on what), when, from where, and the result.
type AuditEntry struct {
	At       time.Time
	Operator string
	Action   string
	Target   string
	Result   string
	Remote   string
}
