package wire

// Command names: the last level of mirror/{id}/cmd/{name} (docs/contracts.md §1).
const (
	CmdPing        = "ping"
	CmdEndSession  = "end-session"
	CmdPurgePhotos = "purge-photos"
	CmdSetLight    = "set-light"
	CmdAnalytics   = "analytics"
	CmdRestart     = "restart"
	CmdSnapshot    = "snapshot"
	CmdUpdate      = "update"
	// CmdReloadKiosk asks the kiosk pages to load themselves again.
	CmdReloadKiosk = "reload-kiosk"
	// CmdForgetPhotos is sent by the hub when shoppers deleted photos (their gallery, or an
	// unfollow): the mirror deletes any copy it still holds.
	CmdForgetPhotos = "forget-photos"
)

// PingResult is the data of a ping result. (The results' fields are in the order the mirror
// has always sent them.)
type PingResult struct {
	UptimeS int64  `json:"uptime_s"`
	Version string `json:"version"`
}

// EndSessionResult is the data of an end-session result.
type EndSessionResult struct {
	Ended bool `json:"ended"`
}

// ForgetPhotosArgs are the arguments of forget-photos: the photos shoppers deleted.
type ForgetPhotosArgs struct {
	PhotoIDs []string `json:"photo_ids"`
}

// ForgetPhotosResult is the data of a forget-photos result: how many of the photos the mirror
// still held and deleted.
type ForgetPhotosResult struct {
	Forgot int `json:"forgot"`
}

// PurgePhotosResult is the data of a purge-photos result: how many photos were deleted.
type PurgePhotosResult struct {
	Purged int `json:"purged"`
}

// SetLightArgs are the arguments of set-light.
type SetLightArgs struct {
	Scene string `json:"scene"` // a lighting scene of the mirror's configuration, e.g. "daylight"
}

// SetLightResult is the data of a set-light result: the scene now on.
type SetLightResult struct {
	Scene string `json:"scene"`
}

// AnalyticsArgs are the arguments of analytics.
type AnalyticsArgs struct {
	Since string `json:"since,omitempty"` // a Go duration ("24h"); empty = 24h
}

// Analytics is the data of an analytics result: the counters over the sessions opened in the
// asked period.
type Analytics struct {
	Sessions         int     `json:"sessions"`
	AvgDwellMs       float64 `json:"avg_dwell_ms"`
	Photos           int     `json:"photos"`
	PhotosPerSession float64 `json:"photos_per_session"`
	QRShown          int     `json:"qr_shown"`
	Bound            int     `json:"bound"`
	Conversion       float64 `json:"conversion"`          // bound / qr_shown
	AvgTimeToScanMs  float64 `json:"avg_time_to_scan_ms"` // qr.shown → bound
}

// ReloadKioskResult is the data of a reload-kiosk result: how many kiosk pages were asked
// to reload (0: none is attached).
type ReloadKioskResult struct {
	Pages int `json:"pages"`
}

// RestartResult is the data of a restart result, sent just before the agent exits.
type RestartResult struct {
	Restarting bool `json:"restarting"`
}

// SnapshotResult is the data of a snapshot result: one diagnostic camera frame.
type SnapshotResult struct {
	Height int    `json:"height"`
	JPEG   []byte `json:"jpeg_base64"` // standard base64 in JSON
	Width  int    `json:"width"`
}

// UpdateArgs are the arguments of update (docs/updates.md): install the signed release at URL,
// a path of the hub's device API (GET /v1/releases/{version}/{arch}), fetched with the
// device's token.
type UpdateArgs struct {
	Version   string `json:"version"`
	URL       string `json:"url"`
	SHA256    string `json:"sha256"`    // hex, of the .deb
	Size      int64  `json:"size"`      // bytes of the .deb
	Signature string `json:"signature"` // the minisign signature file's text
	// AllowDowngrade lets a version older than the running one be installed.
	AllowDowngrade bool `json:"allow_downgrade,omitempty"`
}

// UpdateResult is the data of an update result, sent once the release is downloaded and
// verified: the install starts (its steps follow as update.* events), or it waits for the
// session to end or the window.
type UpdateResult struct {
	Version string `json:"version"`
	State   string `json:"state"` // installing, waiting (a session is open, or outside the window)
}
