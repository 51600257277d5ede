;; A processor that is invalid on its own: it names globals 0 and 1 and
;; defines none. Instrumented without a check, those would be the host's
;; interrupt flag and tick: its handler clears the flag, so that no deadline
;; stops it, and pins the tick, so that its loop never leaves compiled code
;; for Go and the next garbage collection waits for it forever. Assembled
;; with --no-check; its manifest is the sidecar the test writes.
(module
  (memory (export "memory") 1)
  (func (export "neuron_abi_version") (result i32) (i32.const 1))
  (func (export "neuron_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "neuron_handle") (param i32 i32) (result i64)
    (loop $forever
      (global.set 0 (i32.const 0))
      (global.set 1 (i32.const 1))
      (br $forever))
    (i64.const 0)))
