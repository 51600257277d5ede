// Package hostcall is the SDK's only path to the host functions of
// abi.ImportModule. On wasip1 it calls the imports; elsewhere it calls a fake
// host that records what the processor did, for package sdktest.
//
// Each function takes Go slices and strings and returns the host's i32
// status unchanged; package sdk turns statuses into errors. It holds no
// policy of its own and imports nothing of the host, only sdk/abi; Go's
// internal rule keeps it inside the SDK (sdk and sdktest use it).
package hostcall
