;; The valid twin of stealglobals.wat: a processor whose handler spins in a
;; tight loop that calls nothing, writing its own two globals (indexes 0
;; and 1, as the host's would be were they nameable) as stealglobals does.
;; The instrumentation puts the host's flag and tick after them, out of its
;; reach, and the call timeout stops it. Its manifest is the sidecar the
;; test writes.
(module
  (memory (export "memory") 1)
  (global $a (mut i32) (i32.const 1))
  (global $b (mut i32) (i32.const 0))
  (func (export "neuron_abi_version") (result i32) (i32.const 1))
  (func (export "neuron_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "neuron_handle") (param i32 i32) (result i64)
    (loop $forever
      (global.set $a (i32.const 0))
      (global.set $b (i32.const 1))
      (br $forever))
    (i64.const 0)))
