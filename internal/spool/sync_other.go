//go:build !unix

package spool

// syncDir is a no-op where directories cannot be opened for syncing
// (Windows): NTFS journals its metadata, so a rename that returned survives.
func syncDir(string) error { return nil }
