package db

import "time"

// Times are stored as Unix microseconds in BIGINT columns in both dialects.

func nowUnix() int64 { return time.Now().UnixMicro() }

// Micros converts t to stored form; the zero time is stored as 0.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromMicros converts a stored time back; 0 is the zero time.
func FromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}
