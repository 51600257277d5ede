;; A processor that packs its results the wrong way round, length in the
;; high 32 bits and pointer in the low ones: the neuron says the two look
;; swapped. Without a sidecar its neuron_manifest is refused so; with one
;; (see TestABI_SwappedPointerAndLength), it loads and its handler's
;; response is a 502 saying so.
(module
  (memory (export "memory") 1)
  ;; An ABI response: status 200, no headers, body "ok" (14 bytes at 2048).
  (data (i32.const 2048) "\c8\00\00\00\00\00\00\00\02\00\00\00ok")
  ;; The manifest, 108 bytes at 1024.
  (data (i32.const 1024) "{\"name\":\"swapped\",\"version\":\"1.0.0\",\"endpoints\":[{\"method\":\"GET\",\"path\":\"/t/swapped/ok\",\"export\":\"handle\"}]}")
  (func (export "neuron_abi_version") (result i32) (i32.const 1))
  (func (export "neuron_alloc") (param i32) (result i32) (i32.const 4096))
  ;; 108 << 32 | 1024, where 1024 << 32 | 108 is right
  (func (export "neuron_manifest") (result i64) (i64.const 463856468992))
  ;; 14 << 32 | 2048, where 2048 << 32 | 14 is right
  (func (export "handle") (param i32 i32) (result i64) (i64.const 60129544192)))
