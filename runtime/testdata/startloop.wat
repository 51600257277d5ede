;; A processor whose start function (the start section, which runs when an
;; instance is made) loops forever. Its manifest is the sidecar the test
;; writes.
(module
  (memory (export "memory") 1)
  (func $spin (loop $forever (br $forever)))
  (start $spin)
  (func (export "neuron_abi_version") (result i32) (i32.const 1))
  (func (export "neuron_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "neuron_handle") (param i32 i32) (result i64) (i64.const 0)))
