// Package modcheck has no code: its tests check rules that span the
// module's packages and no single package can check for itself. The
// import graph points one way (federation links neither wazero nor
// gorilla/mux, the development federation does not link wazero, nothing
// under internal/ imports cmd/), and every reference from code to a
// heading of docs/design.md names a heading it has.
//
// It must not gain code that other packages import: it is checked, never
// a dependency.
package modcheck
