// Package vision turns camera frames into presence observations and air-button presses for
// the session engine, at a fraction of the cost of running a face detector on every frame.
//
// Per frame (Analyzer):
//
//  1. Motion gate: the frame shrunk to a small grey copy (160 px wide), blurred, differenced
//     with the previous one, thresholded and cut into blobs; blobs under a minimum area are
//     noise. It costs well under a millisecond.
//  2. Background model (background.go): a running Gaussian per pixel of an 80 px grey copy,
//     with the frame's lighting fitted onto the model first (light changes are not events),
//     and a shopper's pixels learnt only very slowly. Its foreground is the body evidence.
//  3. Face detection only when something moved or someone is at (or arriving at) the mirror,
//     at most SearchFPS times a second: BlazeFace (MediaPipe's short-range model, ONNX, in
//     OpenCV's dnn module) on the frame letterboxed to 128×128, or OpenCV's Haar cascade when
//     the model is missing or asked for. Faces with no foreground under them are scenery
//     (a poster, a photo, a mannequin: part of the room's model from the start) unless they
//     are the shopper's face followed from a moment ago; they neither open nor hold a session.
//     A face of the first look — someone may stand at the mirror when the agent starts — is
//     watched for signs of life first (life.go): its look (eyes, nose, mouth, contrast-
//     normalised) changes, its box moves or changes scale; a living face is a person (its
//     dwell counts from when it was first seen), and where they stand is kept out of the
//     room's model until the room behind them shows; a face that stays still is scenery.
//  4. Body evidence: the box where the shopper stands (below and around their last face) is
//     mostly foreground — present while they turn away, even nearly still; gone as soon as
//     they are, whatever moves elsewhere (a swinging curtain, a corridor).
//  5. Presence (presence.go): the one tracker of the mirror — enter dwell, exit grace, body
//     hold, and a newcomer rule (after a second with nobody where the shopper stood, a face
//     is someone else: a new session). Its decision travels in session.Observation.Change;
//     the session engine follows it.
//  6. Air buttons: regions of the image that fire an action ("photo", "next") when a hand
//     stays in them for a hold time while the face is elsewhere.
//
// Pipeline runs this on a live camera (device/camera), reopening it with jittered backoff and
// reporting a lost or frozen feed; Replay runs it over a file on media time for
// `mirror-agent replay`, feeding the session engine on a clock that follows the media (Feed
// hands it a frame's result as the agent's wiring does: Inputs.Observe, then GesturesTo);
// DebugView streams annotated frames as MJPEG to this machine only.
// Package evalset generates the evaluation clips the tests and benchmarks use.
//
// With device/camera this is the only package tree that uses cgo. It hands the session engine
// plain Go values (session.Observation); frames never leave memory, except as a JPEG for a
// photo the engine asked for or for a debug viewer on this machine.
package vision
