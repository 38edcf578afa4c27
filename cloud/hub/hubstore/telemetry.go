package hubstore

import (
	"context"
	"time"
)

// TelemetryStore keeps the mirrors' telemetry of the last day for the console's charts: a row
// a mirror and minute, with the sums of what the hub heard in it, so that a replica that
// restarts, and every replica on the database, show the same history. sqlite.Store and
// postgres.Store implement it; storetest.RunTelemetry is its suite.
type TelemetryStore interface {
	// AddTelemetry stores minutes in one transaction. Every replica hears every mirror and
	// writes its minutes: of two rows for one mirror and minute the one of more messages is
	// kept (a replica that started within the minute heard less of it).
	AddTelemetry(ctx context.Context, minutes []TelemetryMinute) error
	// Telemetry lists a mirror's minutes from the minute of from on, oldest first.
	Telemetry(ctx context.Context, device string, from time.Time) ([]TelemetryMinute, error)
	// PruneTelemetry forgets the minutes before before.
	PruneTelemetry(ctx context.Context, before time.Time) error
}

// TelemetryMinute is one minute of a mirror's telemetry: sums of the N messages heard in it.
type TelemetryMinute struct {
	Device string
	Minute int64 // Unix minutes
	N      int
	FPS    float64
	CPU    float64
	Disk   float64 // free MB
	TN     int     // messages that had a temperature
	Temp   float64 // their sum
}
