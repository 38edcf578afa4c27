package s3blobs_test

import (
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/s3blobs"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/s3blobs/s3test"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/storetest"
)

func TestBucket(t *testing.T) {
	b, err := s3blobs.Open(t.Context(), s3test.Start(t, "photos", "hub1"))
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunBlobs(t, b)
	if _, err := s3blobs.Open(t.Context(), strings.Replace(s3test.Start(t, "photos", ""), "/photos/", "/other/", 1)); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Open of a missing bucket = %v, want an error saying so", err)
	}
	if _, err := s3blobs.Open(t.Context(), "http://key:pw123@host/bucket"); err == nil || strings.Contains(err.Error(), "pw123") {
		t.Errorf("Open of an http URL = %v, want an error without the secret", err)
	}
}

func TestBucketFiles(t *testing.T) {
	b, err := s3blobs.Open(t.Context(), s3test.Start(t, "photos", "hub1"))
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunFiles(t, b.Files())
}
