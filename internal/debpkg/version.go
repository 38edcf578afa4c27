package debpkg

import (
	"fmt"
	"strconv"
	"strings"
)

// ValidVersion checks a Debian version: [epoch:]upstream[-revision], as deb-version(7)
// allows (upstream starts with a digit; letters, digits and . + ~ - : only).
func ValidVersion(v string) error {
	if v == "" || len(v) > 128 {
		return fmt.Errorf("version %q: want 1 to 128 characters", v)
	}
	epoch, rest, upstream, _ := split(v)
	if strings.Contains(v, ":") {
		if _, err := strconv.ParseUint(epoch, 10, 32); err != nil {
			return fmt.Errorf("version %q: the epoch before ':' must be a number", v)
		}
	}
	if upstream == "" || upstream[0] < '0' || upstream[0] > '9' {
		return fmt.Errorf("version %q: the upstream version must start with a digit", v)
	}
	for _, r := range rest {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(".+~-:", r)) {
			return fmt.Errorf("version %q: character %q is not allowed", v, r)
		}
	}
	return nil
}

// split cuts v into epoch, what follows it, the upstream version and the revision.
func split(v string) (epoch, rest, upstream, revision string) {
	epoch, rest = "0", v
	if e, r, ok := strings.Cut(v, ":"); ok {
		epoch, rest = e, r
	}
	upstream = rest
	if i := strings.LastIndex(rest, "-"); i >= 0 {
		upstream, revision = rest[:i], rest[i+1:]
	}
	return epoch, rest, upstream, revision
}

// CompareVersions compares Debian versions a and b as dpkg --compare-versions does: <0 when a
// is older, 0 when equal, >0 when newer (~ sorts before anything, even the end: 1.0~rc1 < 1.0).
func CompareVersions(a, b string) int {
	ea, _, ua, ra := split(a)
	eb, _, ub, rb := split(b)
	na, _ := strconv.ParseUint(ea, 10, 32)
	nb, _ := strconv.ParseUint(eb, 10, 32)
	if na != nb {
		if na < nb {
			return -1
		}
		return 1
	}
	if c := compareFragment(ua, ub); c != 0 {
		return c
	}
	return compareFragment(ra, rb)
}

// compareFragment is dpkg's verrevcmp: alternating non-digit parts (compared by order) and
// digit parts (compared as numbers).
func compareFragment(a, b string) int {
	for a != "" || b != "" {
		for (a != "" && !isDigit(a[0])) || (b != "" && !isDigit(b[0])) {
			ca, cb := order(a), order(b)
			if ca != cb {
				if ca < cb {
					return -1
				}
				return 1
			}
			a, b = a[min(1, len(a)):], b[min(1, len(b)):]
		}
		for a != "" && a[0] == '0' {
			a = a[1:]
		}
		for b != "" && b[0] == '0' {
			b = b[1:]
		}
		diff := 0
		for a != "" && isDigit(a[0]) && b != "" && isDigit(b[0]) {
			if diff == 0 {
				diff = int(a[0]) - int(b[0])
			}
			a, b = a[1:], b[1:]
		}
		if a != "" && isDigit(a[0]) {
			return 1
		}
		if b != "" && isDigit(b[0]) {
			return -1
		}
		if diff != 0 {
			if diff < 0 {
				return -1
			}
			return 1
		}
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// order is the weight of the first character of s in a non-digit part: ~ first, then the end
// of the part (a digit or nothing), then letters, then everything else.
func order(s string) int {
	switch {
	case s == "" || isDigit(s[0]):
		return 0
	case s[0] == '~':
		return -1
	case s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z':
		return int(s[0])
	default:
		return int(s[0]) + 256
	}
}

// Arch is the Debian architecture name of a Go GOARCH (runtime.GOARCH): amd64, arm64,
// armhf (GOARCH arm), i386; others as they are.
func Arch(goarch string) string {
	switch goarch {
	case "arm":
		return "armhf"
	case "386":
		return "i386"
	}
	return goarch
}
