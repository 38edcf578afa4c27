package hubstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Record is one line of a hub export (JSON lines): exactly one of its fields is set. An
// export holds everything a hub keeps — devices (credential hashes), photos with their bytes,
// QR scenes, handled events with their delivery state, viewers, secrets (the user-hash
// salt and the cookie key, without which shoppers' hashes and cookies would change), and the
// console's operators (their password hashes), audit log, mirror stores and alert states —
// so it is as sensitive as the database itself. Console sessions are not carried: logins end
// at a move.
type Record struct {
	Device *Device `json:"device,omitempty"`
	Photo  *Photo  `json:"photo,omitempty"`
	// Data is the photo's JPEG (with Photo); absent when its bytes were missing.
	Data   []byte  `json:"data,omitempty"`
	Scene  *Scene  `json:"scene,omitempty"`
	Event  *Event  `json:"event,omitempty"`
	Viewer *Viewer `json:"viewer,omitempty"`
	Secret *Secret `json:"secret,omitempty"`

	Operator    *Operator    `json:"operator,omitempty"`
	Audit       *AuditRecord `json:"audit,omitempty"`
	MirrorStore *MirrorStore `json:"mirror_store,omitempty"`
	Alert       *AlertState  `json:"alert,omitempty"`
}

// AuditRecord is an audit log entry with its place in the log, kept by an import so that the
// log reads in the same order and an import run again adds nothing.
type AuditRecord struct {
	Seq int64 `json:"seq"`
	AuditEntry
}

// MirrorStore is the store (group) a mirror is placed in.
type MirrorStore struct {
	ID    string `json:"id"`
	Store string `json:"store"`
}

// AlertState is an alert's row (ConsoleStore.FlipAlert): whether it fires, since when.
type AlertState struct {
	Key    string    `json:"key"`
	Firing bool      `json:"firing"`
	At     time.Time `json:"at"`
}

// Viewer is a shopper (salted openid hash) who may see a photo.
type Viewer struct {
	PhotoID string `json:"photo_id"`
	User    string `json:"user"`
}

// Secret is a named secret of the hub.
type Secret struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// Transfer is what a Store implements for export and import: every row as it is
// (EachRecord, photos without their bytes), and a row written as it was (RestoreRecord,
// nothing when its key is taken).
type Transfer interface {
	EachRecord(ctx context.Context, fn func(Record) error) error
	RestoreRecord(ctx context.Context, r Record) (inserted bool, err error)
}

// CopyCounts says what an export, import or migration moved.
type CopyCounts struct {
	Devices, Photos, Scenes, Events, Viewers, Secrets int
	// The console's operators, audit log entries, mirror stores and alert states.
	Operators, Audit, MirrorStores, Alerts int
	// Skipped counts records the target held already (a migration run again).
	Skipped int
	// MissingBytes counts photos whose bytes were gone (purged files): their records moved.
	MissingBytes int
}

func (c CopyCounts) String() string {
	return fmt.Sprintf("%d devices, %d photos (%d without bytes), %d scenes, %d events, %d viewers, %d secrets, "+
		"%d operators, %d audit entries, %d mirror stores, %d alerts; %d already there",
		c.Devices, c.Photos, c.MissingBytes, c.Scenes, c.Events, c.Viewers, c.Secrets,
		c.Operators, c.Audit, c.MirrorStores, c.Alerts, c.Skipped)
}

func (c *CopyCounts) add(r Record) {
	switch {
	case r.Device != nil:
		c.Devices++
	case r.Photo != nil:
		c.Photos++
		if r.Data == nil {
			c.MissingBytes++
		}
	case r.Scene != nil:
		c.Scenes++
	case r.Event != nil:
		c.Events++
	case r.Viewer != nil:
		c.Viewers++
	case r.Secret != nil:
		c.Secrets++
	case r.Operator != nil:
		c.Operators++
	case r.Audit != nil:
		c.Audit++
	case r.MirrorStore != nil:
		c.MirrorStores++
	case r.Alert != nil:
		c.Alerts++
	}
}

func transferOf(st Store) (Transfer, error) {
	t, ok := st.(Transfer)
	if !ok {
		return nil, fmt.Errorf("hub: %T cannot export or import", st)
	}
	return t, nil
}

// eachRecord lists the records of st with the photos' bytes from blobs.
func eachRecord(ctx context.Context, st Store, blobs Blobs, fn func(Record) error) error {
	t, err := transferOf(st)
	if err != nil {
		return err
	}
	return t.EachRecord(ctx, func(r Record) error {
		if r.Photo != nil {
			data, err := blobs.Get(ctx, r.Photo.BlobKey())
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				return fmt.Errorf("photo %s: %w", r.Photo.ID, err)
			default:
				r.Data = data
			}
		}
		return fn(r)
	})
}

// Export writes everything st keeps (the photos' bytes from blobs) to w as JSON lines. The
// hub should be stopped, so that the export is one moment's state.
func Export(ctx context.Context, st Store, blobs Blobs, w io.Writer) (CopyCounts, error) {
	var c CopyCounts
	enc := json.NewEncoder(w)
	err := eachRecord(ctx, st, blobs, func(r Record) error {
		c.add(r)
		return enc.Encode(r)
	})
	return c, err
}

// Import loads an export into st and blobs. Records whose key is taken are skipped, so an
// interrupted import can run again; a secret that differs from the one stored is an error
// (the target hub has run with its own: shoppers' hashes would not match).
func Import(ctx context.Context, st Store, blobs Blobs, r io.Reader) (CopyCounts, error) {
	var c CopyCounts
	t, err := transferOf(st)
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(r)
	for line := 1; ; line++ {
		var rec Record
		if err := dec.Decode(&rec); err == io.EOF {
			return c, nil
		} else if err != nil {
			return c, fmt.Errorf("import: record %d: %w", line, err)
		}
		if err := restore(ctx, t, st, blobs, rec, &c); err != nil {
			return c, fmt.Errorf("import: record %d: %w", line, err)
		}
	}
}

// Copy moves everything from one store (and its photos) into another: `mirror-cloud
// migrate`, from SQLite to PostgreSQL. Like Import, it can run again.
func Copy(ctx context.Context, from Store, fromBlobs Blobs, to Store, toBlobs Blobs) (CopyCounts, error) {
	var c CopyCounts
	t, err := transferOf(to)
	if err != nil {
		return c, err
	}
	err = eachRecord(ctx, from, fromBlobs, func(r Record) error { return restore(ctx, t, to, toBlobs, r, &c) })
	return c, err
}

func restore(ctx context.Context, t Transfer, st Store, blobs Blobs, r Record, c *CopyCounts) error {
	n := 0
	for _, set := range []bool{r.Device != nil, r.Photo != nil, r.Scene != nil, r.Event != nil, r.Viewer != nil, r.Secret != nil,
		r.Operator != nil, r.Audit != nil, r.MirrorStore != nil, r.Alert != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("want exactly one of device, photo, scene, event, viewer, secret, operator, audit, mirror_store, alert; got %d", n)
	}
	if err := checkConsoleRecord(r); err != nil {
		return err
	}
	if r.Photo != nil && r.Data != nil { // the bytes before the index, as an upload does
		if err := blobs.Put(ctx, r.Photo.BlobKey(), r.Data); err != nil {
			return err
		}
	}
	inserted, err := t.RestoreRecord(ctx, r)
	if err != nil {
		return err
	}
	if !inserted {
		c.Skipped++
		if r.Secret != nil {
			v, err := st.Secret(ctx, r.Secret.Name, func() []byte { return r.Secret.Value })
			if err != nil {
				return err
			}
			if !bytes.Equal(v, r.Secret.Value) {
				return fmt.Errorf("the target already has another secret %q (a hub ran on it): import into an empty database", r.Secret.Name)
			}
		}
		return nil
	}
	c.add(r)
	return nil
}

// checkConsoleRecord refuses a console record a hub could not have written.
func checkConsoleRecord(r Record) error {
	switch {
	case r.Operator != nil:
		switch o := r.Operator; {
		case o.Name == "":
			return fmt.Errorf("operator: no name")
		case o.Role != RoleViewer && o.Role != RoleOperator && o.Role != RoleAdmin:
			return fmt.Errorf("operator %s: role %q is not viewer, operator or admin", o.Name, o.Role)
		case o.Hash == "":
			return fmt.Errorf("operator %s: no password hash", o.Name)
		}
	case r.Audit != nil && r.Audit.Seq <= 0:
		return fmt.Errorf("audit: seq %d is not positive", r.Audit.Seq)
	case r.MirrorStore != nil && (r.MirrorStore.ID == "" || r.MirrorStore.Store == ""):
		return fmt.Errorf("mirror_store: want a mirror id and a store, got %q, %q", r.MirrorStore.ID, r.MirrorStore.Store)
	case r.Alert != nil && r.Alert.Key == "":
		return fmt.Errorf("alert: no key")
	}
	return nil
}
