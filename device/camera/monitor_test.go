package camera

import (
	"errors"
	"image"
	"image/color"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gocv.io/x/gocv"
)

type change struct {
	At     int // seconds ×10 after t0 at which the change was reported
	Status Status
}

func TestMonitor(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ds int) time.Time { return t0.Add(time.Duration(ds) * 100 * time.Millisecond) }
	// steps: 'f' a fresh frame, 's' the same frame as before, 'c' a check without a frame,
	// 'e' a read error; one step every 100 ms.
	tests := []struct {
		name  string
		steps string
		want  []change
	}{
		{"healthy feed", "ffffffffffffffffffff", nil},
		{"frozen after 1 s of identical frames, restored by a fresh one", "fssssssssssssf",
			[]change{{10, StatusFrozen}, {13, StatusOK}}}, // identical since frame 0
		{"identical frames shorter than the limit are fine", "fsssssssfsssssss", nil},
		{"no frames for 1 s is lost", "ffcccccccccccf", []change{{11, StatusLost}, {13, StatusOK}}},
		{"a read error is lost at once", "ffeccf", []change{{2, StatusLost}, {5, StatusOK}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []change
			step := 0
			m := NewMonitor(MonitorOptions{FrozenAfter: time.Second, OnChange: func(s Status, why string) {
				if why == "" {
					t.Errorf("status %s without a reason", s)
				}
				got = append(got, change{step, s})
			}})
			fp := uint64(0)
			for i, c := range tt.steps {
				step = i
				switch c {
				case 'f':
					fp++
					m.Frame(at(i), fp)
				case 's':
					m.Frame(at(i), fp)
				case 'c':
					m.Check(at(i))
				case 'e':
					m.Failed(at(i), errors.New("camera: /dev/video0 delivered no frame"))
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("status changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMonitorCheckBeforeAnyFrameStaysQuiet(t *testing.T) {
	m := NewMonitor(MonitorOptions{FrozenAfter: time.Second, OnChange: func(s Status, why string) {
		t.Errorf("OnChange(%s, %q) before the camera was opened", s, why)
	}})
	m.Check(time.Now().Add(time.Hour))
	if m.Status() != StatusOK {
		t.Errorf("Status = %s, want ok", m.Status())
	}
}

func TestFingerprint(t *testing.T) {
	a := gocv.IMRead(facePhoto, gocv.IMReadColor)
	defer a.Close()
	b := a.Clone()
	defer b.Close()
	if Fingerprint(a) != Fingerprint(b) || Fingerprint(a) == 0 {
		t.Fatalf("Fingerprint of equal frames differ or are zero")
	}
	gocv.Rectangle(&b, image.Rect(300, 200, 340, 240), color.RGBA{}, -1)
	if Fingerprint(a) == Fingerprint(b) {
		t.Errorf("Fingerprint did not change when a 40×40 patch changed")
	}
}

func TestSkipAdvancesLikeRead(t *testing.T) {
	s, err := Open(Options{Source: writeClip(t, 4)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 4; i++ {
		f, err := s.Skip()
		if err != nil || f.Index != i {
			t.Fatalf("Skip #%d = %+v, %v", i, f, err)
		}
	}
	if _, err := s.Skip(); err == nil {
		t.Errorf("Skip past the end = nil error, want io.EOF")
	}
}
