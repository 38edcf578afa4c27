package power

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

const week = 7 * 24 * 60 // minutes

// Hours are weekly opening hours in local time. The zero value is always open.
type Hours struct {
	spans []span // minutes of the week, Monday 00:00 = 0; end may pass the week's end
	src   string
}

type span struct{ start, end int }

var dayNames = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// ParseHours parses opening hours (see the package doc). "" means always open.
func ParseHours(s string) (Hours, error) {
	h := Hours{src: strings.TrimSpace(s)}
	for entry := range strings.SplitSeq(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		days := []int{0, 1, 2, 3, 4, 5, 6}
		fields := strings.Fields(entry)
		if len(fields) == 2 {
			var err error
			if days, err = parseDays(fields[0]); err != nil {
				return Hours{}, fmt.Errorf("hours %q: %w", entry, err)
			}
			fields = fields[1:]
		}
		if len(fields) != 1 {
			return Hours{}, fmt.Errorf("hours %q: want [days] HH:MM-HH:MM", entry)
		}
		for r := range strings.SplitSeq(fields[0], ",") {
			from, to, ok := strings.Cut(r, "-")
			start, err1 := parseClock(from)
			end, err2 := parseClock(to)
			if !ok || err1 != nil || err2 != nil {
				return Hours{}, fmt.Errorf("hours %q: %q is not HH:MM-HH:MM", entry, r)
			}
			if start == end {
				return Hours{}, fmt.Errorf("hours %q: %q opens and closes at the same time", entry, r)
			}
			if end < start {
				end += 24 * 60 // past midnight
			}
			for _, d := range days {
				h.spans = append(h.spans, span{d*24*60 + start, d*24*60 + end})
			}
		}
	}
	if h.src != "" && len(h.spans) == 0 {
		return Hours{}, fmt.Errorf("hours %q: no opening times", s)
	}
	slices.SortFunc(h.spans, func(a, b span) int { return a.start - b.start })
	return h, nil
}

// parseDays reads "mon", "mon-fri", "sat,sun" or "fri-mon".
func parseDays(s string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(strings.ToLower(s), ",") {
		from, to, isRange := strings.Cut(part, "-")
		a := slices.Index(dayNames, from)
		b := a
		if isRange {
			b = slices.Index(dayNames, to)
		}
		if a < 0 || b < 0 {
			return nil, fmt.Errorf("%q is not a day or days (mon…sun, mon-fri, sat,sun)", part)
		}
		for d := a; ; d = (d + 1) % 7 {
			out = append(out, d)
			if d == b {
				break
			}
		}
	}
	return out, nil
}

// parseClock reads HH:MM, 00:00 to 24:00, in minutes.
func parseClock(s string) (int, error) {
	var hh, mm int
	if n, err := fmt.Sscanf(s, "%2d:%2d", &hh, &mm); err != nil || n != 2 || len(s) != 5 ||
		hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return hh*60 + mm, nil
}

// Always reports whether the hours never close.
func (h Hours) Always() bool { return len(h.spans) == 0 }

func (h Hours) String() string {
	if h.Always() {
		return "always open"
	}
	return h.src
}

// minuteOfWeek is t's minute since Monday 00:00 in t's location.
func minuteOfWeek(t time.Time) int {
	d := (int(t.Weekday()) + 6) % 7 // Monday = 0
	return d*24*60 + t.Hour()*60 + t.Minute()
}

// Open reports whether t (in the location the hours apply to) is within opening hours.
func (h Hours) Open(t time.Time) bool {
	if h.Always() {
		return true
	}
	m := minuteOfWeek(t)
	for _, s := range h.spans {
		if (m >= s.start && m < s.end) || (s.end > week && m < s.end-week) {
			return true
		}
	}
	return false
}

// Next returns the first minute boundary after t at which Open changes, or the zero time when
// it never does.
func (h Hours) Next(t time.Time) time.Time {
	if h.Always() {
		return time.Time{}
	}
	now := h.Open(t)
	m := minuteOfWeek(t)
	var deltas []int
	for _, s := range h.spans {
		for _, b := range []int{s.start, s.end % week} {
			d := ((b-m)%week + week) % week
			if d == 0 {
				d = week
			}
			deltas = append(deltas, d)
		}
	}
	slices.Sort(deltas)
	for _, d := range deltas {
		// Wall-clock minutes: across a DST change "21:00" stays 21:00.
		next := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()+d, 0, 0, t.Location())
		if h.Open(next) != now {
			return next
		}
	}
	return time.Time{} // spans cover the whole week
}
