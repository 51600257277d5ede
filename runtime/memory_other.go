//go:build !unix

package runtime

import "github.com/tetratelabs/wazero/experimental"

// newLinearMemory allocates on the Go heap where mapping is not available.
func newLinearMemory(_, _ uint64) experimental.LinearMemory { return &heapMemory{} }
