package main

import (
	"context"
	"image"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/cloud/local"
	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/recorder"
	"github.com/fitmirror/fitmirror/session/store"
)

// BenchmarkCaptureToQR measures the photo path the shopper waits on after "1": a 1280×720
// frame → JPEG (quality 90) → written atomically (fsync, rename) → recorded in SQLite (WAL,
// synchronous=FULL) → QR content ready from the local provider. Reports p50/p95 in ms. The
// event is recorded as the agent records it, through the recorder (sub-benchmark "recorder"),
// and straight into the store ("store") for comparison in the same run.
func BenchmarkCaptureToQR(b *testing.B) {
	b.Run("recorder", func(b *testing.B) {
		benchCaptureToQR(b, func(db *store.DB, dir string) func(context.Context, session.Event) error {
			return recorder.New(recorder.Options{DB: db, Reserve: filepath.Join(dir, "reserve")}).Append
		})
	})
	b.Run("store", func(b *testing.B) {
		benchCaptureToQR(b, func(db *store.DB, _ string) func(context.Context, session.Event) error {
			return func(ctx context.Context, ev session.Event) error { _, err := db.Append(ctx, ev); return err }
		})
	})
}

func benchCaptureToQR(b *testing.B, recorderOn func(*store.DB, string) func(context.Context, session.Event) error) {
	src := gocv.IMRead("../../testdata/face.jpg", gocv.IMReadColor)
	defer src.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	gocv.Resize(src, &frame, image.Pt(1280, 720), 0, 0, gocv.InterpolationLinear)

	dir := b.TempDir()
	photos, err := store.OpenPhotos(filepath.Join(dir, "photos"))
	if err != nil {
		b.Fatal(err)
	}
	db, err := store.OpenDB(filepath.Join(dir, "mirror.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	record := recorderOn(db, dir)
	prov, err := local.New(local.Options{PublicURL: "http://127.0.0.1:8081", Photos: photos})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		jpeg, err := camera.EncodeJPEG(frame, 90)
		if err != nil {
			b.Fatal(err)
		}
		p := session.Photo{ID: store.NewID(), SessionID: "S", CapturedAt: start, Width: 1280, Height: 720, Bytes: len(jpeg)}
		if err := photos.Put(p.ID, jpeg); err != nil {
			b.Fatal(err)
		}
		if err := record(ctx, session.Event{Type: wire.EventPhotoCaptured, At: start, SessionID: "S", PhotoID: p.ID,
			Data: map[string]any{"width": 1280, "height": 720, "bytes": len(jpeg)}}); err != nil {
			b.Fatal(err)
		}
		if _, err := prov.QR(ctx, p, 0); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)-1)*95/100].Microseconds())/1000, "p95-ms")
}
