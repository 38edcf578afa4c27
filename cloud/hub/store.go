package hub

import "github.com/fitmirror/fitmirror/cloud/hub/hubstore"

// The hub keeps its state behind hubstore.Store and its photos' bytes behind hubstore.Blobs;
// these are the hub's names for them. The backends (hubstore/sqlite, hubstore/postgres,
// hubstore/s3blobs) are packages of their own that the hub does not import: cmd/mirror-cloud
// picks one from its configuration and passes it in Options.
type (
	Store    = hubstore.Store
	Blobs    = hubstore.Blobs
	DirBlobs = hubstore.DirBlobs
	DirFiles = hubstore.DirFiles
	Device   = hubstore.Device
	Photo    = hubstore.Photo
	Scene    = hubstore.Scene
	Event    = hubstore.Event
)

// Store errors.
var (
	ErrNotFound = hubstore.ErrNotFound
	ErrExists   = hubstore.ErrExists
	ErrConflict = hubstore.ErrConflict
)
