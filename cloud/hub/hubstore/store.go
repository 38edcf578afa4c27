// Package hubstore is what the hub keeps and how: the [Store] interface with its record
// types and errors, the photo bytes' [Blobs] ([DirBlobs] beside a SQLite file), the options
// the backends take, and export, import and copy between stores ([Export], [Import], [Copy]).
//
// The backends are packages of their own, so that the hub links none of them: sqlite (one
// instance, the default) and postgres (replicas), both passing the conformance suite in
// storetest, and s3blobs (photos in a bucket). cmd/mirror-cloud picks them from its
// configuration.
package hubstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// Store is what the hub keeps: devices, photo metadata, QR scenes, handled WeChat events and
// who may see which photo. Package sqlite implements it for one hub instance; package postgres
// lets several instances (replicas behind a load balancer) share the state.
//
// Every implementation passes the conformance suite in cloud/hub/hubstore/storetest: whoever adds a
// method adds its cases there and implements it for every backend. Exactly-once rests on the
// store, not on process memory: AddDevice, PutPhoto, AddScene and RecordEvent are single
// INSERT … ON CONFLICT statements, so that two replicas racing on one key see one winner.
type Store interface {
	AddDevice(ctx context.Context, d Device) error // ErrExists when the ID is taken
	Device(ctx context.Context, id string) (Device, error)
	DeviceByToken(ctx context.Context, tokenHash string) (Device, error)
	// RotateDevice replaces a device's credential hashes (ErrNotFound when no such device):
	// the old token and MQTT password stop working.
	RotateDevice(ctx context.Context, id, tokenHash, mqttHash string) error
	// RemoveDevice deletes a device (ErrNotFound when no such device): its token and MQTT
	// password stop working. Its photos and bindings stay until their retention.
	RemoveDevice(ctx context.Context, id string) error

	// PutPhoto records a photo. It returns created=false when the same ID with the same
	// SHA256 is stored already, and ErrConflict when the ID holds something else.
	PutPhoto(ctx context.Context, p Photo) (created bool, err error)
	Photo(ctx context.Context, id string) (Photo, error)

	AddScene(ctx context.Context, s Scene) error // ErrExists when the scene is taken
	Scene(ctx context.Context, scene string) (Scene, error)
	SceneByTicket(ctx context.Context, ticket string) (Scene, error)

	// RecordEvent stores a handled event unless its Key is stored already; it returns the
	// stored event and whether it is new. A new event also makes its User a viewer of its
	// photo, in the same transaction.
	RecordEvent(ctx context.Context, e Event) (stored Event, isNew bool, err error)
	Event(ctx context.Context, key string) (Event, error)

	// Bindings are delivered to the mirror from the store until the mirror acknowledges
	// them. PendingBindings lists the events whose binding deviceID ("" = every device) has
	// not acknowledged and whose NextAt is not after due, oldest first. MarkSent records a
	// delivery attempt (Published when the broker took it) and when to try again.
	// AckBindings marks bindings of deviceID acknowledged and returns how many it changed;
	// IDs of other devices, unknown or already acknowledged change nothing.
	PendingBindings(ctx context.Context, deviceID string, due time.Time, limit int) ([]Event, error)
	// ClaimDue takes the next delivery attempt of up to limit due bindings (not acknowledged,
	// NextAt not after due) — those due earliest first, then the oldest, so that a backlog of
	// retries never holds back new bindings due at once — by moving their NextAt to until,
	// and returns them oldest first (NextAt = until). Replicas claim disjoint sets in one statement each; a replica that
	// dies holding a claim leaves its bindings due again at until.
	ClaimDue(ctx context.Context, due, until time.Time, limit int) ([]Event, error)
	MarkSent(ctx context.Context, key string, published bool, next time.Time) error
	AckBindings(ctx context.Context, deviceID string, bindingIDs []string) (int, error)

	IsViewer(ctx context.Context, photoID, user string) (bool, error)

	// StalePhotos lists photos nobody scanned whose last QR code expired before unscanned
	// (or that never got one and were stored before it), and scanned photos stored before
	// scanned. DeletePhoto forgets a photo with its scenes and viewers.
	StalePhotos(ctx context.Context, unscanned, scanned time.Time, limit int) ([]Photo, error)
	DeletePhoto(ctx context.Context, id string) error
	// PruneEvents forgets handled events recorded before t, acknowledged or not: dedupe only
	// needs to cover WeChat's retries, and a binding older than the photo's retention points
	// at a photo that is gone.
	PruneEvents(ctx context.Context, before time.Time) error

	// Secret returns the named secret, creating it with gen the first time. Replicas racing
	// on the first start all get the one value that was stored.
	Secret(ctx context.Context, name string, gen func() []byte) ([]byte, error)
	// Ping reports whether the database answers (for /healthz).
	Ping(ctx context.Context) error
	Close() error
}

// Blobs holds the photos' bytes, by key (the photo ID and the start of its SHA-256, so that a
// conflicting upload racing the first one never overwrites it). DirBlobs keeps them as files
// next to a SQLite store; postgres.Store.Blobs keeps them in the database; s3blobs.Bucket in a
// bucket.
type Blobs interface {
	// Put stores data under key durably; putting the same key again replaces it.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the data, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete forgets key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Store errors.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrConflict = errors.New("conflicts with what is stored")
)

// Device is a registered mirror. Only hashes of its credentials are kept.
type Device struct {
	ID        string
	TokenHash string // hex sha256 of the API token
	MQTTHash  string // hex sha256 of the MQTT password
	CreatedAt time.Time
}

// Photo is the metadata of a stored photo; its JPEG is in Blobs under BlobKey.
type Photo struct {
	ID        string
	DeviceID  string
	SessionID string
	SHA256    string
	Size      int64
	CreatedAt time.Time
}

// BlobKey is where the photo's bytes are kept in Blobs.
func (p Photo) BlobKey() string { return p.ID + "-" + p.SHA256[:min(16, len(p.SHA256))] + ".jpg" }

// Scene maps a QR scene (and its ticket) to one photo of one device.
type Scene struct {
	Scene     string
	Ticket    string
	URL       string
	PhotoID   string
	DeviceID  string
	ExpiresAt time.Time
}

// Event is a handled WeChat push that produced a binding.
type Event struct {
	Key       string // dedupe key
	BindingID string
	DeviceID  string
	PhotoID   string
	User      string // salted hash of the openid
	Payload   []byte // the binding message (docs/contracts.md §1)
	Reply     []byte // the passive reply, before safe-mode sealing
	At        time.Time
	// Delivery of the binding to the mirror.
	Published bool      // the broker took it at least once
	Acked     bool      // the mirror acknowledged it (POST /v1/bindings/ack)
	Attempts  int       // publishes tried
	NextAt    time.Time // when the next publish is due (zero: at once)
}

// SortEvents orders events oldest first (At, then Key), as PendingBindings lists them.
func SortEvents(es []Event) {
	slices.SortFunc(es, func(a, b Event) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
}
