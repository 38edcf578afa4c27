package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/internal/httpjson"
	"github.com/fitmirror/fitmirror/internal/lan"
	"github.com/fitmirror/fitmirror/session"
)

func (c *Config) cameraOptions() camera.Options {
	return camera.Options{Source: c.Camera.Source, DemoClip: c.demoClip(), Width: c.Camera.Width,
		Height: c.Camera.Height, FPS: c.Camera.FPS, Loop: c.Camera.Loop, Rotation: c.Camera.Rotation, Paced: true}
}

func serve(srv *http.Server, ln net.Listener, key string) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// listen opens a TCP listener and names the config key when it cannot.
func listen(key, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return nil, fmt.Errorf("%s %s: %w", key, addr, errno)
		}
		return nil, fmt.Errorf("%s %s: %w", key, addr, err)
	}
	return ln, nil
}

// defaultPublicURL is the base URL phones reach the photo page at: the listener's own address
// when it names one, otherwise this machine's first LAN address.
func defaultPublicURL(a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		if host = lan.Address(); host == "" {
			host = "127.0.0.1" // no network yet: a URL that works on this machine
		}
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}

func printYAML(w io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// triggerHandler is the kiosk page's tap: POST /api/trigger {"action":"photo"|"compare"}.
// It is served on the loopback kiosk listener only; a JSON body keeps plain cross-site forms out.
func triggerHandler(engine *session.Engine) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			httpjson.Error(w, http.StatusUnsupportedMediaType, "bad_request", "Content-Type must be application/json")
			return
		}
		var req struct {
			Action string `json:"action"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1024)).Decode(&req); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "bad_request", `body must be {"action":"photo"|"compare"}`)
			return
		}
		switch req.Action {
		case "photo":
			engine.Trigger(r.Context(), "tap")
		case "compare":
			engine.Compare(r.Context())
		default:
			httpjson.Error(w, http.StatusBadRequest, "bad_request", "action must be photo or compare")
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}
