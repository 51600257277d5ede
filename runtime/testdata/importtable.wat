;; A table imported from the host, which provides none: refused before
;; compiling, since its size would be out of the neuron's reach.
(module (import "env" "table" (table 1 funcref)))
