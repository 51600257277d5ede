;; startloop.wat with a SIMD instruction, which the interrupt instrumentation
;; does not walk: the module reaches wazero as it is, start section and all,
;; and wazero runs its start function while instantiating it. Its manifest
;; is the sidecar the test writes.
(module
  (memory (export "memory") 1)
  (func $spin (loop $forever (br $forever)))
  (start $spin)
  (func (export "neuron_abi_version") (result i32) (i32.const 1))
  (func (export "neuron_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "neuron_handle") (param i32 i32) (result i64)
    (drop (v128.const i64x2 0 0))
    (i64.const 0)))
