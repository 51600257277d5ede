package watch

import "strings"

// kind is what a file in the plugins directory is to the runtime.
type kind int

const (
	irrelevant kind = iota
	module          // NAME.wasm, a processor
	sidecar         // NAME.json, the manifest of NAME.wasm when it exports none
	signature       // NAME.wasm.sig, the signature file of NAME.wasm
)

// kindOf classifies a file name the way the runtime does: a module is a
// name ending in ".wasm" that is not hidden (see runtime.wasmFiles).
//
// That rule alone keeps out the temporary files of editors, downloaders and
// copy tools, which all end otherwise or are hidden: "x.wasm~", ".x.wasm.swp",
// "x.wasm.swx", "4913" and "#x.wasm#" (vim, emacs), "x.wasm.tmp",
// "x.wasm.part" and "x.wasm.crdownload" (downloads), ".x.wasm.XXXXXX"
// (rsync). Renaming one of them to x.wasm counts once, as x.wasm's creation.
func kindOf(name string) kind {
	switch {
	case strings.HasPrefix(name, "."):
		return irrelevant
	case strings.HasSuffix(name, ".wasm"):
		return module
	case strings.HasSuffix(name, ".json"):
		return sidecar
	case strings.HasSuffix(name, ".wasm.sig"):
		return signature
	}
	return irrelevant
}

// moduleOf is the module whose sidecar manifest or signature file is the
// file named name.
func moduleOf(name string) string {
	if m, ok := strings.CutSuffix(name, ".sig"); ok {
		return m
	}
	return strings.TrimSuffix(name, ".json") + ".wasm"
}
