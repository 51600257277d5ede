// Package hostcall is the SDK's only path to the host functions of
// abi.ImportModule. On wasip1 it calls the imports; elsewhere it calls a fake
// host that records what the processor did, for package sdktest.
//
// Each function takes Go slices and strings and returns the host's i32
// status unchanged; package sdk turns statuses into errors.
package hostcall
