package wasmbound

import (
	"errors"
	"fmt"

	"github.com/empirefederation/neuron/internal/wasmbin"
)

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
	if id != wasmbin.SecCustom {
		o, ok := wasmbin.Order(id)
		if !ok {
			return errors.New("unknown section")
		}
		if o <= s.last {
			return errors.New("out of order or repeated")
		}
		s.last = o
	}
	r := &reader{wasmbin.Reader{B: body}}
	var err error
	switch id {
	case wasmbin.SecCustom:
		err = s.custom(r)
	case wasmbin.SecStart, wasmbin.SecDataCount:
		r.U32()
	case wasmbin.SecCode:
		err = s.code(r, len(body))
	default:
		err = s.vector(r, id)
	}
	switch {
	case err != nil:
		return err
	case r.Err != nil:
		return r.Err
	case len(r.B) > 0:
		return errors.New("bytes after its end")
	}
	return nil
}

// entries reads the count of a vector that Budget.Entries bounds.
func (s *shape) entries(r *reader, what string) (uint32, error) {
	n := r.Count()
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
	if id == wasmbin.SecGlobal {
		if s.globals += uint64(n); s.globals > s.budget.Globals {
			return &LimitError{What: "globals", Have: s.globals, Limit: s.budget.Globals}
		}
	}
	for i := uint32(0); i < n && r.Err == nil; i++ {
		switch id {
		case wasmbin.SecType:
			if form := r.Byte(); form != 0x60 {
				return fmt.Errorf("type %d: form %#x is not a function type", i, form)
			}
			for range 2 { // parameters, results
				for j := r.Count(); j > 0 && r.Err == nil; j-- {
					r.ValType()
				}
			}
		case wasmbin.SecImport:
			if err := s.importEntry(r, i); err != nil {
				return err
			}
		case wasmbin.SecFunction:
			r.U32()
			s.functions++
		case wasmbin.SecTable:
			if len(r.B) > 0 && r.B[0] == 0x40 { // a table with an initializer
				r.Take(2)
				r.ValType()
				r.limits()
				r.expr()
			} else {
				r.ValType()
				r.limits()
			}
		case wasmbin.SecMemory:
			r.limits()
		case wasmbin.SecGlobal:
			r.ValType()
			r.Byte()
			r.expr()
		case wasmbin.SecExport:
			r.Name()
			r.Byte()
			r.U32()
		case wasmbin.SecElement:
			if err := s.elementSegment(r, i); err != nil {
				return err
			}
		case wasmbin.SecData:
			dataSegment(r, i)
		case wasmbin.SecTag:
			r.Byte()
			r.U32()
		}
	}
	return nil
}

// importEntry reads an import. A table cannot be imported: the host
// exports none, and Bound could not cap one.
func (s *shape) importEntry(r *reader, i uint32) error {
	r.Name()
	r.Name()
	switch kind := r.Byte(); kind {
	case 0x00: // function
		r.U32()
		s.functions++
	case 0x01:
		return &LimitError{What: "imported tables (the neuron provides none)", Have: 1, Limit: 0}
	case 0x02: // memory
		r.limits()
	case 0x03: // global
		if s.globals++; s.globals > s.budget.Globals {
			return &LimitError{What: "imported globals", Have: s.globals, Limit: s.budget.Globals}
		}
		r.ValType()
		r.Byte()
	case 0x04: // tag
		r.Byte()
		r.U32()
	default:
		if r.Err == nil {
			return fmt.Errorf("import %d: kind %#x", i, kind)
		}
	}
	return nil
}

// elementSegment reads an element segment; the elements of all of them
// together are bounded by Budget.Entries.
func (s *shape) elementSegment(r *reader, i uint32) error {
	flags := r.U32()
	if flags > 7 {
		return fmt.Errorf("element segment %d: flags %#x", i, flags)
	}
	if flags&3 == 2 { // an explicit table index
		r.U32()
	}
	if flags&1 == 0 { // active: an offset
		r.expr()
	}
	if flags&3 != 0 { // an element kind or a reference type
		r.ValType()
	}
	n := r.Count()
	if s.elements += uint64(n); s.elements > s.budget.Entries {
		return &LimitError{What: "elements in element segments", Have: s.elements, Limit: s.budget.Entries}
	}
	for j := uint32(0); j < n && r.Err == nil; j++ {
		if flags&4 == 0 {
			r.U32()
		} else {
			r.expr()
		}
	}
	return nil
}

// dataSegment reads a data segment.
func dataSegment(r *reader, i uint32) {
	switch flags := r.U32(); flags {
	case 0: // active in memory 0
		r.expr()
	case 1: // passive
	case 2: // active in a memory it names
		r.U32()
		r.expr()
	default:
		r.Fail(fmt.Errorf("data segment %d: flags %#x", i, flags))
	}
	r.Take(r.U32())
}

// code reads the code section: how many bodies, how large, and how many
// locals each declares.
func (s *shape) code(r *reader, size int) error {
	b := s.budget
	if uint64(size) > b.CodeBytes {
		return &LimitError{What: "bytes of code", Have: uint64(size), Limit: b.CodeBytes}
	}
	n := r.Count()
	if s.bodies = uint64(n); s.bodies > b.Functions {
		return &LimitError{What: "functions", Have: s.bodies, Limit: b.Functions}
	}
	var total, squares uint64 // blocks and branches, and the squares of each function's
	for i := uint32(0); i < n && r.Err == nil; i++ {
		body := &reader{wasmbin.Reader{B: r.Take(r.U32())}}
		size := uint64(len(body.B))
		if size > b.BodyBytes {
			return &LimitError{What: fmt.Sprintf("bytes in the body of function %d", i), Have: size, Limit: b.BodyBytes}
		}
		var locals uint64
		for j := body.Count(); j > 0 && body.Err == nil; j-- {
			locals += uint64(body.U32())
			body.ValType()
		}
		if body.Err != nil {
			return fmt.Errorf("function %d: locals: %w", i, body.Err)
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
	if name := string(r.Take(r.U32())); name != "name" {
		r.B = nil
		return nil
	}
	for !r.Done() {
		id := r.Byte()
		sub := &reader{wasmbin.Reader{B: r.Take(r.U32())}}
		if id != 1 && id != 2 { // function names, local names
			continue
		}
		if err := s.nameMaps(sub, id == 2); err != nil {
			return err
		}
		if sub.Err != nil {
			return fmt.Errorf("name subsection %d: %w", id, sub.Err)
		}
	}
	return nil
}

// nameMaps reads a name map (index, name pairs), or when indirect, a map
// from an index to a name map.
func (s *shape) nameMaps(r *reader, indirect bool) error {
	n, err := s.entries(r, "names in the name section")
	for i := uint32(0); i < n && err == nil && r.Err == nil; i++ {
		r.U32()
		if indirect {
			err = s.nameMaps(r, false)
		} else {
			r.Name()
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
