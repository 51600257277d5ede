;; Two tables: $open has no maximum, $small one below any share. grow0 and
;; grow1 grow each by their argument and return table.grow's result.
(module
  (table $open 10 funcref)
  (table $small 5 100 funcref)
  (func (export "grow0") (param i32) (result i32)
    (table.grow $open (ref.null func) (local.get 0)))
  (func (export "grow1") (param i32) (result i32)
    (table.grow $small (ref.null func) (local.get 0))))
