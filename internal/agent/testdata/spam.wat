;; spam: a processor whose /spam adds to 10,000 counters of distinct names
;; and emits 10,000 events of distinct types, 1 KiB of data each, in one
;; call; /tidy adds to one counter and emits one small event, as a
;; well-behaved processor does. Loaded twice, under two manifests, it plays
;; the hostile processor and its neighbour: the host must cap the first
;; without losing the analytics of the second.
(module
  (import "neuron:host/v1" "metric_add" (func $metric_add (param i32 i32 f64) (result i32)))
  (import "neuron:host/v1" "event_emit" (func $emit (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; The response: status 200, no headers, body "ok".
  (data (i32.const 16) "\c8\00\00\00" "\00\00\00\00" "\02\00\00\00" "ok")
  (data (i32.const 48) "tidy_calls") ;; 10 bytes
  (data (i32.const 64) "tidy_done")  ;; 9 bytes
  (data (i32.const 80) "{}")
  (data (i32.const 96) "m00000")     ;; a name: m and 5 digits
  (data (i32.const 128) "{\"pad\":\"") ;; 1 KiB of event data: {"pad":"xx...x"}

  (func (export "neuron_abi_version") (result i32) (i32.const 1))

  ;; neuron_alloc returns offset 4096, growing memory to hold size bytes
  ;; there; 0 when it cannot.
  (func (export "neuron_alloc") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need
      (i32.shr_u (i32.add (local.get $size) (i32.const 69631)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 4096))

  ;; $name writes i's last 5 decimal digits into the name at 97..101.
  (func $name (param $i i32)
    (local $at i32)
    (local.set $at (i32.const 101))
    (loop $digit
      (i32.store8 (local.get $at)
        (i32.add (i32.const 48) (i32.rem_u (local.get $i) (i32.const 10))))
      (local.set $i (i32.div_u (local.get $i) (i32.const 10)))
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (br_if $digit (i32.gt_u (local.get $at) (i32.const 96)))))

  (func (export "spam") (param i32 i32) (result i64)
    (local $i i32)
    (local $at i32)
    ;; The data's padding, 136..1149, then "} at 1150: 1024 bytes from 128.
    (local.set $at (i32.const 136))
    (loop $pad
      (i32.store8 (local.get $at) (i32.const 120)) ;; x
      (local.set $at (i32.add (local.get $at) (i32.const 1)))
      (br_if $pad (i32.lt_u (local.get $at) (i32.const 1150))))
    (i32.store8 (i32.const 1150) (i32.const 34))  ;; "
    (i32.store8 (i32.const 1151) (i32.const 125)) ;; }
    (loop $again
      (call $name (local.get $i))
      (drop (call $metric_add (i32.const 96) (i32.const 6) (f64.const 1)))
      (drop (call $emit (i32.const 96) (i32.const 6) (i32.const 128) (i32.const 1024)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 10000))))
    (i64.const 0x100000000e))

  (func (export "tidy") (param i32 i32) (result i64)
    (drop (call $metric_add (i32.const 48) (i32.const 10) (f64.const 1)))
    (drop (call $emit (i32.const 64) (i32.const 9) (i32.const 80) (i32.const 2)))
    (i64.const 0x100000000e)))
