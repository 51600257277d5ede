;; A processor whose start function traps. Its manifest is the sidecar the
;; test writes.
(module
  (memory (export "memory") 1)
  (func $fail (unreachable))
  (start $fail)
  (func (export "neuron_abi_version") (result i32) (i32.const 1))
  (func (export "neuron_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "neuron_handle") (param i32 i32) (result i64) (i64.const 0)))
