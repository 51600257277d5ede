;; The smallest processor that serves: every handler export answers 200 "ok".
;; Healthy neighbour of the hostile modules; the manifest is a sidecar (see
;; watPlugin in helpers_test.go).
(module
  (memory (export "memory") 1)
  ;; An ABI response: status 200, no headers, body "ok" (14 bytes at 16).
  (data (i32.const 16) "\c8\00\00\00\00\00\00\00\02\00\00\00ok")
  (func (export "neuron_abi_version") (result i32) (i32.const 1))
  ;; The request buffer is the memory past 4096; larger asks get 0.
  (func (export "neuron_alloc") (param $size i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $size) (i32.const 61440))
      (then (i32.const 0))
      (else (i32.const 4096))))
  ;; 16 << 32 | 14
  (func (export "handle") (param i32 i32) (result i64) (i64.const 68719476750)))
