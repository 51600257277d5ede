package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/empirefederation/neuron/internal/atomicfile"
)

const (
	recExt    = ".rec"
	reasonExt = ".reason"
	tmpExt    = atomicfile.TempSuffix
	seqDigits = 20 // enough for any uint64
)

// recName is the file name of record seq: zero-padded so that name order is
// sequence order.
func recName(seq uint64) string {
	return fmt.Sprintf("%0*d%s", seqDigits, seq, recExt)
}

// parseName returns the sequence number of a file named by recName (or by
// recName with ext in place of ".rec").
func parseName(name, ext string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, ext)
	if !ok || len(base) != seqDigits {
		return 0, false
	}
	seq, err := strconv.ParseUint(base, 10, 64)
	return seq, err == nil
}

// writeFileAtomic makes dir/name hold exactly data, durably (see
// atomicfile.Write): a crash at any point leaves either the old name (or
// none) plus a *.tmp file that Open removes, never a partial name.
func writeFileAtomic(dir, name string, data []byte) error {
	return atomicfile.Write(filepath.Join(dir, name), data)
}

// removeFile deletes path; a file already gone is not an error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// withHint adds to a file-system error what the operator can do about it.
func withHint(err error, dir string) error {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w (disk full: free space on the volume holding %s, or lower the spool bounds)", err, dir)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w (read-only file system: point NEURON_DATA_DIR at a writable volume)", err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w (not writable: give the neuron's user write access to %s)", err, dir)
	}
	return err
}
