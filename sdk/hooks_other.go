//go:build !wasip1

package sdk

import "github.com/empirefederation/neuron/sdk/internal/hostcall"

// Outside wasip1, package sdktest reaches the functions behind the exports
// through these hooks.
func init() {
	hostcall.Alloc = alloc
	hostcall.Handle = handle
	hostcall.Manifest = reg.manifestJSON
	hostcall.SelfTest = reg.runSelfTest
}
