package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// SystemSampler measures, for telemetry, what every mirror reports the same way: the agent's
// CPU share and resident memory (from /proc/self), the SoC temperature (from the thermal
// zones in /sys, where the machine has them), the Raspberry Pi firmware's throttling flags
// (where it reports them) and the free space of the state directory.
type SystemSampler struct {
	// StateDir is the directory whose file system's free space is reported.
	StateDir string
	// Proc and Sys are /proc and /sys; tests point them at fakes.
	Proc, Sys string
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu       sync.Mutex
	lastCPU  time.Duration
	lastWall time.Time
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times (100 on every Linux platform Go
// supports).
const clockTick = 100

// Fill sets t's CPUPct (since the previous Fill; 0 on the first), RSSMB, TempC (nil when no
// thermal zone is readable), Throttled (nil without the firmware's flags) and DiskFreeMB. A
// value that cannot be read is left as it is.
func (s *SystemSampler) Fill(t *wire.Telemetry) {
	proc, sys := s.Proc, s.Sys
	if proc == "" {
		proc = "/proc"
	}
	if sys == "" {
		sys = "/sys"
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if cpu, err := processCPU(filepath.Join(proc, "self", "stat")); err == nil {
		wall := now()
		s.mu.Lock()
		if !s.lastWall.IsZero() && wall.After(s.lastWall) {
			t.CPUPct = 100 * float64(cpu-s.lastCPU) / float64(wall.Sub(s.lastWall))
		}
		s.lastCPU, s.lastWall = cpu, wall
		s.mu.Unlock()
	}
	if rss, err := residentMB(filepath.Join(proc, "self", "statm")); err == nil {
		t.RSSMB = rss
	}
	if c, ok := socTemperature(filepath.Join(sys, "class", "thermal")); ok {
		t.TempC = &c
	}
	if th, err := FirmwareThrottled(sys)(); err == nil {
		t.Throttled = &th
	}
	if s.StateDir != "" {
		var st syscall.Statfs_t
		if err := syscall.Statfs(s.StateDir, &st); err == nil {
			t.DiskFreeMB = float64(st.Bavail) * float64(st.Bsize) / (1 << 20)
		}
	}
}

// processCPU is utime+stime of a /proc/PID/stat file.
func processCPU(path string) (time.Duration, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')') // the command name may contain spaces and parentheses
	if i < 0 {
		return 0, fmt.Errorf("%s: no command name", path)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 { // f[0] is the state (field 3); utime and stime are fields 14 and 15
		return 0, fmt.Errorf("%s: %d fields", path, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: bad utime/stime", path)
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// residentMB reads the resident set from a /proc/PID/statm file.
func residentMB(path string) (float64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(raw))
	if len(f) < 2 {
		return 0, fmt.Errorf("%s: too short", path)
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return float64(pages) * float64(os.Getpagesize()) / (1 << 20), nil
}

// socTemperature reads the thermal zone that is the SoC or CPU package (by its type), else
// the first readable one; values are millidegrees Celsius.
func socTemperature(dir string) (float64, bool) {
	zones, _ := filepath.Glob(filepath.Join(dir, "thermal_zone*"))
	sort.Strings(zones)
	best, bestRank := 0.0, -1
	for _, z := range zones {
		raw, err := os.ReadFile(filepath.Join(z, "temp"))
		if err != nil {
			continue
		}
		milli, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil {
			continue
		}
		typ, _ := os.ReadFile(filepath.Join(z, "type"))
		rank := 0
		switch t := strings.ToLower(strings.TrimSpace(string(typ))); {
		case strings.Contains(t, "cpu"), strings.Contains(t, "soc"), t == "x86_pkg_temp":
			rank = 1
		}
		if rank > bestRank {
			best, bestRank = float64(milli)/1000, rank
		}
	}
	return best, bestRank >= 0
}

// throttledGlob is where the Raspberry Pi firmware driver publishes get_throttled, under
// /sys: devices/platform/soc/soc:firmware/get_throttled on a Pi 4 (the names of the soc
// nodes carry the bus address on later models).
const throttledGlob = "devices/platform/soc*/soc*:firmware/get_throttled"

// ErrNoThrottled is FirmwareThrottled's error where the firmware reports no flags: the
// machine is not a Raspberry Pi, or its kernel lacks the firmware driver and there is no
// vcgencmd.
var ErrNoThrottled = errors.New("no Raspberry Pi firmware throttling flags (" + throttledGlob + ", vcgencmd get_throttled)")

// FirmwareThrottled returns a reader of the Raspberry Pi firmware's throttling flags in the
// /sys tree sys ("" means /sys). Where the kernel does not publish them (no firmware driver's
// get_throttled), it asks the firmware through `vcgencmd get_throttled` when vcgencmd is on
// $PATH (it needs /dev/vcio: the agent's unit allows it, and the video group may open it). It
// returns ErrNoThrottled where there are neither.
func FirmwareThrottled(sys string) func() (wire.Throttled, error) {
	if sys == "" {
		sys = "/sys"
	}
	return func() (wire.Throttled, error) {
		files, _ := filepath.Glob(filepath.Join(sys, throttledGlob))
		if len(files) == 0 {
			return vcgencmdThrottled()
		}
		sort.Strings(files)
		raw, err := os.ReadFile(files[0])
		if err != nil {
			return wire.Throttled{}, err
		}
		return parseThrottled(files[0], strings.TrimSpace(string(raw)))
	}
}

// parseThrottled reads the firmware's flags, hexadecimal with or without 0x, from src.
func parseThrottled(src, s string) (wire.Throttled, error) {
	flags, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 32)
	if err != nil {
		return wire.Throttled{}, fmt.Errorf("%s: %q is not hexadecimal flags", src, s)
	}
	return wire.NewThrottled(uint32(flags)), nil
}

// vcgencmdThrottled asks `vcgencmd get_throttled` ("throttled=0x50005"), within 2 s.
func vcgencmdThrottled() (wire.Throttled, error) {
	path, err := exec.LookPath("vcgencmd")
	if err != nil {
		return wire.Throttled{}, ErrNoThrottled
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "get_throttled")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.Join(strings.Fields(stderr.String()), " ")
		return wire.Throttled{}, fmt.Errorf("vcgencmd get_throttled: %v %s (the agent's unit allows /dev/vcio; is the user in the video group?)", err, msg)
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "throttled=")
	if !ok {
		return wire.Throttled{}, fmt.Errorf("vcgencmd get_throttled: answered %q, not throttled=0x…", strings.TrimSpace(string(out)))
	}
	return parseThrottled("vcgencmd get_throttled", v)
}
