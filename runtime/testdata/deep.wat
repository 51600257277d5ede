;; A processor whose "deep" handler recurses 400,000 calls deep, then
;; returns 200 "ok": each frame keeps eight values live across its call, so
;; the call stack wazero grows for it reaches about 40 MB of the host's
;; heap (below wazero's ~100 MB stack overflow). "medium" recurses 4,000
;; deep (a stack of some 100s of KiB, which the host keeps); "handle"
;; answers at once.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "\c8\00\00\00\00\00\00\00\02\00\00\00ok")
  (func (export "neuron_abi_version") (result i32) (i32.const 1))
  (func (export "neuron_alloc") (param i32) (result i32) (i32.const 4096))
  (func $down (param $n i32) (result i64)
    (local $a i64) (local $b i64) (local $c i64) (local $d i64)
    (local $e i64) (local $f i64) (local $g i64) (local $h i64)
    (if (result i64) (i32.eqz (local.get $n))
      (then (i64.const 0))
      (else
        (local.set $a (i64.extend_i32_u (local.get $n)))
        (local.set $b (i64.mul (local.get $a) (i64.const 3)))
        (local.set $c (i64.mul (local.get $b) (i64.const 5)))
        (local.set $d (i64.mul (local.get $c) (i64.const 7)))
        (local.set $e (i64.mul (local.get $d) (i64.const 11)))
        (local.set $f (i64.mul (local.get $e) (i64.const 13)))
        (local.set $g (i64.mul (local.get $f) (i64.const 17)))
        (local.set $h (i64.mul (local.get $g) (i64.const 19)))
        (i64.add
          (call $down (i32.sub (local.get $n) (i32.const 1)))
          (i64.add
            (i64.add (i64.add (local.get $a) (local.get $b)) (i64.add (local.get $c) (local.get $d)))
            (i64.add (i64.add (local.get $e) (local.get $f)) (i64.add (local.get $g) (local.get $h))))))))
  ;; 16 << 32 | 14: the response "ok"
  (func (export "deep") (param i32 i32) (result i64)
    (drop (call $down (i32.const 400000)))
    (i64.const 68719476750))
  (func (export "medium") (param i32 i32) (result i64)
    (drop (call $down (i32.const 4000)))
    (i64.const 68719476750))
  (func (export "handle") (param i32 i32) (result i64) (i64.const 68719476750)))
