//go:build unix

package spool

import "os"

// syncDir makes the entries of dir (creations, renames, removals) durable.
// Without it a rename that returned can still be lost at power loss.
func syncDir(dir string) error {
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
