;; A processor with a start function that does nothing, which the interrupt
;; instrumentation exports as neuron.start for the host to call. Its
;; manifest is the sidecar the test writes.
(module
  (memory (export "memory") 1)
  (func $nop)
  (start $nop)
  (func (export "neuron_abi_version") (result i32) (i32.const 1))
  (func (export "neuron_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "neuron_handle") (param i32 i32) (result i64) (i64.const 0)))
