package hubclient_test

import (
	"context"
	"fmt"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hubclient"
	"github.com/fitmirror/fitmirror/internal/jpegcheck/jpegtest"
	"github.com/fitmirror/fitmirror/session"
)

// Wiring the hub provider in the agent: the QR content is the WeChat url, rendered locally.
func ExampleProvider_QR() {
	p, err := hubclient.New(hubclient.Options{
		BaseURL: "http://127.0.0.1:1", // nothing listens here
		Token:   "device-token",
		Photos:  memPhotos{"P1": jpegtest.Progressive()},
		TTL:     5 * time.Minute,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = p.QR(context.Background(), session.Photo{ID: "P1"}, 0)
	fmt.Println("provider down:", hubclient.Down(err))
	// Output: provider down: true
}
