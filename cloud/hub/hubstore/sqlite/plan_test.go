package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
)

// The claim reads the due bindings in the order of the events_due index and stops at its
// limit: no temporary sort of every due binding (a backlog made each claim cost its size).
func TestSQLiteClaimUsesTheDueIndex(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.db.Query(`EXPLAIN QUERY PLAN `+sqliteClaimDue, 2, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "INDEX events_due") || strings.Contains(text, "TEMP B-TREE") {
		t.Errorf("claim plan:\n%s\nwant a search of events_due in its order, no temporary sort", text)
	}
}
