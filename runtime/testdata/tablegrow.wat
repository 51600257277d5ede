;; A processor whose handlers grow its table. GET /t/tablegrow/huge asks
;; table.grow for 4 Mi elements (32 MiB of host memory in wazero: 8 bytes
;; each, on the Go heap; the attack asked for 2 GiB), GET /t/tablegrow/small
;; for 1,000. Each answers 200 with table.grow's result (the old size, or -1
;; when refused) as 4 little-endian bytes. Manifest: tablegrow.json.
(module
  (table $t 1 funcref)
  (memory (export "memory") 1)
  ;; the response: status 200, no headers, a body of 4 bytes at 12
  (data (i32.const 0) "\c8\00\00\00" "\00\00\00\00" "\04\00\00\00")
  (func (export "neuron_abi_version") (result i32) (i32.const 1))
  (func (export "neuron_alloc") (param i32) (result i32) (i32.const 1024))
  (func $answer (param $n i32) (result i64)
    (i32.store (i32.const 12) (local.get $n))
    (i64.const 16)) ;; ptr 0, len 16
  (func (export "grow_huge") (param i32 i32) (result i64)
    (call $answer (table.grow $t (ref.null func) (i32.const 0x400000))))
  (func (export "grow_small") (param i32 i32) (result i64)
    (call $answer (table.grow $t (ref.null func) (i32.const 1000)))))
