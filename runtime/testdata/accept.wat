;; accept: a well-behaved processor that takes any request body and answers
;; 200 "ok". The body tests aim hostile clients at it: the host must bound
;; what it buffers for them before the guest is ever called. Its export
;; "spin" never returns, until the host stops it.
(module
  (memory (export "memory") 1)
  ;; The response: status 200, no headers, body "ok".
  (data (i32.const 16) "\c8\00\00\00" "\00\00\00\00" "\02\00\00\00" "ok")

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

  ;; neuron_handle answers the response above: 16 << 32 | 14.
  (func (export "neuron_handle") (param i32 i32) (result i64)
    (i64.const 0x100000000e))

  (func (export "spin") (param i32 i32) (result i64)
    (loop $forever (br $forever))
    (i64.const 0)))
