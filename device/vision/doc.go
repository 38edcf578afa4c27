// Package vision turns camera frames into presence observations and air-button presses for
// the session engine, at a fraction of the cost of running a face detector on every frame.
//
// Per frame (Analyzer):
//
//  1. Motion gate: the frame shrunk to a small grey copy (160 px wide), blurred, differenced
//     with the previous one, thresholded and cut into blobs; blobs under a minimum area are
//     noise. It costs well under a millisecond.
//  2. Face detection only when something moved or a shopper is at (or arriving at) the
//     mirror: OpenCV's Haar or LBP cascades (Debian's opencv-data) on a copy shrunk to a
//     working width, with a minimum face size so pedestrians far away do not count; or an
//     OpenCV dnn face model when the operator supplies one. While a face is known it is
//     looked for only around where it was (a narrow range of sizes), and while nothing
//     moves near it, it is trusted for a moment without detecting at all; the whole frame is
//     searched again every few detections. The primary shopper is the largest face near the
//     centre; an optional zone limits everything to the fitting room's standing area.
//  3. Body evidence: motion centred where the shopper's face last was keeps a session alive
//     while the face is hidden (a twirl, a look at the back of a dress).
//  4. Presence: the session package's pure hysteresis (enter dwell, exit grace), the same the
//     engine runs, so the pipeline knows when to analyse at the engaged rather than the idle
//     frame rate.
//  5. Air buttons: regions of the image that fire an action ("photo", "next") when a hand
//     stays in them for a hold time while the face is elsewhere.
//
// Pipeline runs this on a live camera (device/camera), reopening it with jittered backoff and
// reporting a lost or frozen feed; Replay runs it over a file on media time for
// `mirror-agent replay`; DebugView streams annotated frames as MJPEG to this machine only.
// Package evalset generates the evaluation clips the tests and benchmarks use.
//
// With device/camera this is the only package tree that uses cgo. It hands the session engine
// plain Go values (session.Observation); frames never leave memory, except as a JPEG for a
// photo the engine asked for or for a debug viewer on this machine.
package vision
