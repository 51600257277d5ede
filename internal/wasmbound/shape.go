package wasmbound

import (
	"errors"
	"fmt"
)

// order is each known section's place in a module: each appears at most
// once, in this order, with custom sections anywhere.
var order = map[byte]int{secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secTag: 6,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCount: 11, secCode: 12, secData: 13}

// shape is what Bound counts of a module, section by section.
type shape struct {
	budget    Budget
	last      int    // order of the last section read
	functions uint64 // imported and declared
	bodies    uint64 // function bodies in the code section
	elements  uint64 // of all element segments
	globals   uint64 // imported and defined
}

// section reads the body of the section id.
func (s *shape) section(id byte, body []byte) error {
	if id != secCustom {
		o, ok := order[id]
		if !ok {
			return errors.New("unknown section")
		}
		if o <= s.last {
			return errors.New("out of order or repeated")
		}
		s.last = o
	}
	r := &reader{b: body}
	var err error
	switch id {
	case secCustom:
		err = s.custom(r)
	case secStart, secDataCount:
		r.u32()
	case secCode:
		err = s.code(r, len(body))
	default:
		err = s.vector(r, id)
	}
	switch {
	case err != nil:
		return err
	case r.err != nil:
		return r.err
	case len(r.b) > 0:
		return errors.New("bytes after its end")
	}
	return nil
}

// entries reads the count of a vector that Budget.Entries bounds.
func (s *shape) entries(r *reader, what string) (uint32, error) {
	n := r.count()
	if uint64(n) > s.budget.Entries {
		return 0, &LimitError{What: what, Have: uint64(n), Limit: s.budget.Entries}
	}
	return n, nil
}

// vector reads a section that is a vector of entries of one kind.
func (s *shape) vector(r *reader, id byte) error {
	n, err := s.entries(r, sectionName(id)+" section entries")
	if err != nil {
		return err
	}
	if id == secGlobal {
		if s.globals += uint64(n); s.globals > s.budget.Globals {
			return &LimitError{What: "globals", Have: s.globals, Limit: s.budget.Globals}
		}
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		switch id {
		case secType:
			if form := r.byte(); form != 0x60 {
				return fmt.Errorf("type %d: form %#x is not a function type", i, form)
			}
			for range 2 { // parameters, results
				for j := r.count(); j > 0 && r.err == nil; j-- {
					r.valType()
				}
			}
		case secImport:
			if err := s.importEntry(r, i); err != nil {
				return err
			}
		case secFunction:
			r.u32()
			s.functions++
		case secTable:
			if len(r.b) > 0 && r.b[0] == 0x40 { // a table with an initializer
				r.take(2)
				r.valType()
				r.limits()
				r.expr()
			} else {
				r.valType()
				r.limits()
			}
		case secMemory:
			r.limits()
		case secGlobal:
			r.valType()
			r.byte()
			r.expr()
		case secExport:
			r.name()
			r.byte()
			r.u32()
		case secElement:
			if err := s.elementSegment(r, i); err != nil {
				return err
			}
		case secData:
			dataSegment(r, i)
		case secTag:
			r.byte()
			r.u32()
		}
	}
	return nil
}

// importEntry reads an import. A table cannot be imported: the host
// exports none, and Bound could not cap one.
func (s *shape) importEntry(r *reader, i uint32) error {
	r.name()
	r.name()
	switch kind := r.byte(); kind {
	case 0x00: // function
		r.u32()
		s.functions++
	case 0x01:
		return &LimitError{What: "imported tables (the neuron provides none)", Have: 1, Limit: 0}
	case 0x02: // memory
		r.limits()
	case 0x03: // global
		if s.globals++; s.globals > s.budget.Globals {
			return &LimitError{What: "imported globals", Have: s.globals, Limit: s.budget.Globals}
		}
		r.valType()
		r.byte()
	case 0x04: // tag
		r.byte()
		r.u32()
	default:
		if r.err == nil {
			return fmt.Errorf("import %d: kind %#x", i, kind)
		}
	}
	return nil
}

// elementSegment reads an element segment; the elements of all of them
// together are bounded by Budget.Entries.
func (s *shape) elementSegment(r *reader, i uint32) error {
	flags := r.u32()
	if flags > 7 {
		return fmt.Errorf("element segment %d: flags %#x", i, flags)
	}
	if flags&3 == 2 { // an explicit table index
		r.u32()
	}
	if flags&1 == 0 { // active: an offset
		r.expr()
	}
	if flags&3 != 0 { // an element kind or a reference type
		r.valType()
	}
	n := r.count()
	if s.elements += uint64(n); s.elements > s.budget.Entries {
		return &LimitError{What: "elements in element segments", Have: s.elements, Limit: s.budget.Entries}
	}
	for j := uint32(0); j < n && r.err == nil; j++ {
		if flags&4 == 0 {
			r.u32()
		} else {
			r.expr()
		}
	}
	return nil
}

// dataSegment reads a data segment.
func dataSegment(r *reader, i uint32) {
	switch flags := r.u32(); flags {
	case 0: // active in memory 0
		r.expr()
	case 1: // passive
	case 2: // active in a memory it names
		r.u32()
		r.expr()
	default:
		r.fail(fmt.Errorf("data segment %d: flags %#x", i, flags))
	}
	r.take(r.u32())
}

// code reads the code section: how many bodies, how large, and how many
// locals each declares.
func (s *shape) code(r *reader, size int) error {
	b := s.budget
	if uint64(size) > b.CodeBytes {
		return &LimitError{What: "bytes of code", Have: uint64(size), Limit: b.CodeBytes}
	}
	n := r.count()
	if s.bodies = uint64(n); s.bodies > b.Functions {
		return &LimitError{What: "functions", Have: s.bodies, Limit: b.Functions}
	}
	var total, squares uint64 // blocks and branches, and the squares of each function's
	for i := uint32(0); i < n && r.err == nil; i++ {
		body := &reader{b: r.take(r.u32())}
		size := uint64(len(body.b))
		if size > b.BodyBytes {
			return &LimitError{What: fmt.Sprintf("bytes in the body of function %d", i), Have: size, Limit: b.BodyBytes}
		}
		var locals uint64
		for j := body.count(); j > 0 && body.err == nil; j-- {
			locals += uint64(body.u32())
			body.valType()
		}
		if body.err != nil {
			return fmt.Errorf("function %d: locals: %w", i, body.err)
		}
		if locals > b.Locals {
			return &LimitError{What: fmt.Sprintf("locals in function %d", i), Have: locals, Limit: b.Locals}
		}
		br, err := branches(body)
		if err != nil {
			return fmt.Errorf("function %d: %w", i, err)
		}
		if br > b.FunctionBranches {
			return &LimitError{What: fmt.Sprintf("blocks and branches in function %d", i), Have: br, Limit: b.FunctionBranches}
		}
		total += br
		squares += br * br
	}
	if total > b.Branches {
		return &LimitError{What: "blocks and branches", Have: total, Limit: b.Branches}
	}
	if squares > b.BranchSquares {
		return &LimitError{What: "squared blocks and branches (the sum over its functions of the square of their blocks and branches)", Have: squares, Limit: b.BranchSquares}
	}
	return nil
}

// custom reads a custom section's name and, for the name section, whose
// maps wazero sizes by their counts, the counts of its function and local
// names.
func (s *shape) custom(r *reader) error {
	if name := string(r.take(r.u32())); name != "name" {
		r.b = nil
		return nil
	}
	for !r.done() {
		id := r.byte()
		sub := &reader{b: r.take(r.u32())}
		if id != 1 && id != 2 { // function names, local names
			continue
		}
		if err := s.nameMaps(sub, id == 2); err != nil {
			return err
		}
		if sub.err != nil {
			return fmt.Errorf("name subsection %d: %w", id, sub.err)
		}
	}
	return nil
}

// nameMaps reads a name map (index, name pairs), or when indirect, a map
// from an index to a name map.
func (s *shape) nameMaps(r *reader, indirect bool) error {
	n, err := s.entries(r, "names in the name section")
	for i := uint32(0); i < n && err == nil && r.err == nil; i++ {
		r.u32()
		if indirect {
			err = s.nameMaps(r, false)
		} else {
			r.name()
		}
	}
	return err
}

// totals checks what is known only when every section was read.
func (s *shape) totals() error {
	if n := max(s.functions, s.bodies); n > s.budget.Functions {
		return &LimitError{What: "functions", Have: n, Limit: s.budget.Functions}
	}
	return nil
}
