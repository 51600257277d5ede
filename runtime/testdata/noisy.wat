;; noisy: a processor that fails or logs as fast as it can. POST /noisy/fail
;; traps on every call; POST /noisy/chatty writes 1000 error lines through
;; the log host function, then answers 200 "ok". The host must rate-limit
;; the lines either makes it write.
(module
  (import "neuron:host/v1" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  ;; The response: status 200, no headers, body "ok".
  (data (i32.const 16) "\c8\00\00\00" "\00\00\00\00" "\02\00\00\00" "ok")
  (data (i32.const 32) "spam")

  (func (export "neuron_abi_version") (result i32) (i32.const 1))

  ;; neuron_alloc returns offset 1024, growing memory to hold size bytes
  ;; there; 0 when it cannot.
  (func (export "neuron_alloc") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need
      (i32.shr_u (i32.add (local.get $size) (i32.const 66559)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 1024))

  (func (export "fail") (param i32 i32) (result i64)
    unreachable)

  (func (export "chatty") (param i32 i32) (result i64)
    (local $i i32)
    (loop $again
      (call $log (i32.const 8) (i32.const 32) (i32.const 4)) ;; error "spam"
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 1000))))
    (i64.const 0x100000000e)))
