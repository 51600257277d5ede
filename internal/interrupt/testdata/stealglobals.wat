;; An invalid module (it names globals 0 and 1 and defines none) that, if the
;; instrumentation made it valid, would own the interrupt flag (global 0) and
;; tick (global 1): spin clears the flag, so that no deadline stops it, and
;; pins the tick, so that its loop never leaves compiled code for Go and a
;; garbage collection waits for it forever. Assembled with --no-check.
(module
  (memory 1)
  (func (export "spin")
    (loop $forever
      (global.set 0 (i32.const 0))
      (global.set 1 (i32.const 1))
      (br $forever)))
  (func (export "flag") (result i32)
    (global.get 0)))
