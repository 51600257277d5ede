;; A table that starts with one element more than the neuron allows an
;; instance (wasmbound.DefaultBudget.TableElements, 2^18): refused before
;; compiling.
(module (table 262145 funcref))
