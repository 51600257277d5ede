;; A processor whose start function sleeps for an hour (WASI poll_oneoff
;; with a relative clock timeout), and which uses a SIMD instruction, so
;; that the interrupt instrumentation leaves it alone and wazero runs its
;; start function while instantiating it. Its manifest is the sidecar the
;; test writes.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; One subscription at 0: userdata, the clock tag, the monotonic clock,
  ;; a timeout of 3600e9 ns, precision 0, flags 0 (relative).
  (data (i32.const 0)
    "\00\00\00\00\00\00\00\00" "\00\00\00\00\00\00\00\00"
    "\01\00\00\00\00\00\00\00" "\00\a0\b8\30\46\03\00\00"
    "\00\00\00\00\00\00\00\00" "\00\00\00\00\00\00\00\00")
  (func $sleep (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128))))
  (start $sleep)
  (func (export "neuron_abi_version") (result i32) (i32.const 1))
  (func (export "neuron_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "neuron_handle") (param i32 i32) (result i64)
    (drop (v128.const i64x2 0 0))
    (i64.const 0)))
