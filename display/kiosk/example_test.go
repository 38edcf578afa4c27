package kiosk_test

import (
	"bufio"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/display/kiosk"
)

func Example() {
	k := kiosk.New(kiosk.Options{})
	srv := httptest.NewServer(k.Handler())
	defer srv.Close()
	defer k.Close() // ends the event stream first, so that srv.Close returns

	k.Show(display.Screen{Scene: display.SceneCountdown, Countdown: 3})

	// What the page's EventSource receives: the current Screen first.
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for range 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(line)
	}
	// Output:
	// retry: 1000
	// data: {"scene":"countdown","countdown":3}
}
