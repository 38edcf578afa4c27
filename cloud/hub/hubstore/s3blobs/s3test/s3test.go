// Package s3test runs an S3-compatible server for tests: gofakes3 with an in-memory backend,
// in the test process, on a free loopback port.
package s3test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Start serves a fake S3 with one bucket and returns its photos.url
// (s3://key:secret@127.0.0.1:port/bucket/prefix?tls=false); t.Cleanup stops it.
func Start(t testing.TB, bucket, prefix string) string {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return "s3://test-key:test-secret@" + strings.TrimPrefix(srv.URL, "http://") + "/" + bucket + "/" + prefix + "?tls=false"
}
