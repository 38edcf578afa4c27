package config

import (
	"fmt"
	"strings"
)

// suggest returns ` (did you mean "k"?)` for the known key k (leaf or
// section) closest to the unknown key path, if one is within edit
// distance 2, ignoring case; otherwise "".
func suggest(root []*field, path string) string {
	want := strings.ToLower(path)
	last := want[strings.LastIndex(want, ".")+1:]
	best, bestDist := "", 3
	var walk func(fields []*field)
	walk = func(fields []*field) {
		for _, f := range fields {
			// Skip lengths that cannot be close, and distances as long as
			// the last segment: those are replacements, not typos ("ab" for "id").
			if n := len(f.path) - len(want); -2 <= n && n <= 2 {
				if d := distance(want, strings.ToLower(f.path)); d < bestDist && d < len(last) {
					best, bestDist = f.path, d
				}
			}
			walk(f.fields)
		}
	}
	walk(root)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent
// characters each cost 1.
func distance(a, b string) int {
	s, t := []rune(a), []rune(b)
	// d[i][j] is the distance between s[:i] and t[:j]; keep three rows.
	prev2 := make([]int, len(t)+1)
	prev := make([]int, len(t)+1)
	cur := make([]int, len(t)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(s); i++ {
		cur[0] = i
		for j := 1; j <= len(t); j++ {
			cost := 1
			if s[i-1] == t[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(t)]
}
