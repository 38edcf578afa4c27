package hub

import (
	"net/http"
	"net/url"
)

// Simulator is sim mode's WeChat stand-in (cloud/hub/hubsim, wired by cmd/mirror-cloud): the
// hub links no simulator of its own. New attaches it; Handler serves its routes.
type Simulator interface {
	// Attach gives the simulator the hub's WeChat callback (where its pushes go in-process)
	// and public_url (where it may redirect a phone).
	Attach(callback http.Handler, public *url.URL)
	// Scan is POST /sim/scan: a shopper's scan of a mirror's QR code.
	Scan(w http.ResponseWriter, r *http.Request)
	// Authorize is GET /sim/connect/oauth2/authorize, the OAuth page of the photo page.
	Authorize(w http.ResponseWriter, r *http.Request)
}

// ValidScene checks a QR scene (scene_str): 1-64 printable characters without spaces.
func ValidScene(s string) error { return validScene(s) }
