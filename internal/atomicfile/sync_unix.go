//go:build unix

package atomicfile

import "os"

// SyncDir makes the entries of dir (creations, renames, removals) durable.
// Without it a rename that returned can still be lost at power loss.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
