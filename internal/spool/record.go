package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A record file is a 12-byte header followed by the data:
//
//	offset 0  4 bytes  magic "NSR1"
//	offset 4  4 bytes  data length, big endian
//	offset 8  4 bytes  CRC-32C (Castagnoli) of the data, big endian
//	offset 12          data
//
// The length must match the file size exactly and the checksum must match
// the data, so a torn or truncated file is always refused, never delivered.
const (
	headerSize = 12
	magic      = "NSR1"
)

// maxDataSize is the largest record the header can describe.
const maxDataSize = 1<<32 - 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a record that failed validation.
var errCorrupt = errors.New("corrupt record")

// encode returns the on-disk form of data.
func encode(data []byte) []byte {
	buf := make([]byte, headerSize+len(data))
	copy(buf, magic)
	binary.BigEndian.PutUint32(buf[4:], uint32(len(data)))
	binary.BigEndian.PutUint32(buf[8:], crc32.Checksum(data, castagnoli))
	copy(buf[headerSize:], data)
	return buf
}

// decode validates the on-disk form of a record and returns its data, which
// aliases buf. Anything encode did not produce is refused with errCorrupt.
func decode(buf []byte) ([]byte, error) {
	if len(buf) < headerSize {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the %d-byte header", errCorrupt, len(buf), headerSize)
	}
	if string(buf[:4]) != magic {
		return nil, fmt.Errorf("%w: bad magic %q", errCorrupt, buf[:4])
	}
	n := binary.BigEndian.Uint32(buf[4:])
	if uint64(n) != uint64(len(buf)-headerSize) {
		return nil, fmt.Errorf("%w: header says %d data bytes, file holds %d (torn write?)", errCorrupt, n, len(buf)-headerSize)
	}
	data := buf[headerSize:]
	if got, want := crc32.Checksum(data, castagnoli), binary.BigEndian.Uint32(buf[8:]); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, header says %08x", errCorrupt, got, want)
	}
	return data, nil
}
