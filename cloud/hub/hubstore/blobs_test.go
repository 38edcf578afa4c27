package hubstore_test

import (
	"testing"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/storetest"
)

func TestDirBlobs(t *testing.T) { storetest.RunBlobs(t, hubstore.DirBlobs(t.TempDir())) }

func TestDirFiles(t *testing.T) { storetest.RunFiles(t, hubstore.DirFiles(t.TempDir())) }
