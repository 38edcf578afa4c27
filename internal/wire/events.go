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
)

// Why a photo was purged: the "reason" of photo.purged.
const (
	PurgeUnbound   = "unbound"   // nobody scanned it: its session ended (the grace passed)
	PurgeRetention = "retention" // a scanned photo kept photos.retention
	PurgeUploaded  = "uploaded"  // the hub delivered it: no copy stays once its session ended
	PurgeDiskLow   = "disk_low"  // the oldest photos, while the disk is low
	PurgeRestart   = "restart"   // left unbound by the last run
	PurgeCommand   = "command"   // the fleet's purge-photos command
)
