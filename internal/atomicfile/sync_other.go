//go:build !unix

package atomicfile

// SyncDir is a no-op where directories cannot be opened for syncing
// (Windows): NTFS journals its metadata, so a rename that returned survives.
func SyncDir(string) error { return nil }
