;; A processor whose _initialize never returns: it logs "init looping" (so
;; that a test knows it runs), then spins. The neuron must stop it at its
;; start timeout, or at once when the load is canceled (Close, a signal).
(module
  (import "neuron:host/v1" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "init looping")
  (func (export "neuron_abi_version") (result i32) (i32.const 1))
  (func (export "neuron_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "_initialize")
    (call $log (i32.const 0) (i32.const 16) (i32.const 12))
    (loop $spin (br $spin)))
  (func (export "handle") (param i32 i32) (result i64) (i64.const 0)))
