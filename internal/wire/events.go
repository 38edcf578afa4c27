package wire

// Event types: the "type" of a [Event] on mirror/{id}/events (docs/contracts.md §1). They are
// spelled here and nowhere else.
const (
	EventSessionOpened  = "session.opened"
	EventSessionClosed  = "session.closed"
	EventPhotoCaptured  = "photo.captured"
	EventQRShown        = "qr.shown"
	EventQRExpired      = "qr.expired"
	EventPhotoBound     = "photo.bound"
	EventPhotoPurged    = "photo.purged"
	EventStaffCalled    = "staff.called"    // a "call staff" button on the frame
	EventCameraLost     = "camera.lost"     // the camera went from ok to lost or frozen
	EventCameraRestored = "camera.restored" // back to ok
	EventDiskLow        = "disk.low"        // free space under photos.min_free_mb: the oldest photos go first
	EventConfigApplied  = "config.applied"  // the fleet's desired configuration is in force
	EventOutboxDropped  = "outbox.dropped"  // the outbox bound dropped the oldest events
	EventOutboxFailed   = "outbox.failed"   // events could not be recorded (a full disk): how many, since when

	// A software update (docs/updates.md), each with [Update] as its data.
	EventUpdateDownloading = "update.downloading" // the release is being fetched
	EventUpdateVerified    = "update.verified"    // size, sha256 and signature match
	EventUpdateInstalling  = "update.installing"  // dpkg runs, in the separate update unit
	EventUpdateCommitted   = "update.committed"   // the new version proved healthy and stays
	EventUpdateRolledBack  = "update.rolled_back" // the new version was not healthy: the old one is back
	EventUpdateRefused     = "update.refused"     // nothing was installed (a bad signature, a downgrade, …)
)

// Why a photo was purged: the "reason" of photo.purged.
const (
	PurgeUnbound   = "unbound"   // nobody scanned it: its session ended (the grace passed)
	PurgeRetention = "retention" // a scanned photo kept photos.retention
	PurgeUploaded  = "uploaded"  // the hub delivered it: no copy stays once its session ended
	PurgeDiskLow   = "disk_low"  // the oldest photos, while the disk is low
	PurgeRestart   = "restart"   // left unbound by the last run
	PurgeCommand   = "command"   // the fleet's purge-photos command
	PurgeDeleted   = "deleted"   // the shopper deleted it (the hub's forget-photos)
)

// The "data" of each event type. An event type not listed has no data. The recorder stores
// them as JSON on the outbox; the fleet decodes them with these types.
type (
	// SessionClosed is the data of session.closed.
	SessionClosed struct {
		DurationMS int64  `json:"duration_ms"`
		Photos     int    `json:"photos"`
		Reason     string `json:"reason"` // absent, command, shutdown, restart
	}
	// PhotoCaptured is the data of photo.captured.
	PhotoCaptured struct {
		Width  int `json:"width"`
		Height int `json:"height"`
		Bytes  int `json:"bytes"`
	}
	// QRShown is the data of qr.shown.
	QRShown struct {
		ExpiresAt Time `json:"expires_at"`
	}
	// PhotoBound is the data of photo.bound.
	PhotoBound struct {
		Event     string `json:"event"`                // subscribe, SCAN or local
		LatencyMS int64  `json:"latency_ms,omitempty"` // from the QR code shown to the scan
	}
	// PhotoPurged is the data of photo.purged.
	PhotoPurged struct {
		Reason string `json:"reason"` // one of the Purge* reasons
	}
	// StaffCalled is the data of staff.called.
	StaffCalled struct {
		Button  string `json:"button"`
		Gesture string `json:"gesture"`
	}
	// CameraLost is the data of camera.lost.
	CameraLost struct {
		Status string `json:"status"` // lost or frozen
		Reason string `json:"reason"`
	}
	// CameraRestored is the data of camera.restored.
	CameraRestored struct {
		Reason string `json:"reason"`
	}
	// DiskLow is the data of disk.low.
	DiskLow struct {
		FreeMB    int `json:"free_mb"`
		MinFreeMB int `json:"min_free_mb"`
	}
	// ConfigApplied is the data of config.applied.
	ConfigApplied struct {
		Version int64 `json:"version"`
	}
	// OutboxDropped is the data of outbox.dropped.
	OutboxDropped struct {
		Dropped int `json:"dropped"`
	}
	// Update is the data of the update.* events: the version being installed, the version
	// running before it, and why (the refusal or the rollback; absent when there is nothing to
	// say).
	Update struct {
		Version string `json:"version"`
		From    string `json:"from"`
		Reason  string `json:"reason,omitempty"`
	}
	// OutboxFailed is the data of outbox.failed.
	OutboxFailed struct {
		Lost  int    `json:"lost"`
		Since Time   `json:"since"`
		Error string `json:"error"`
	}
)
