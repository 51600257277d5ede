package interrupt

import (
	"errors"
	"fmt"
	"math"

	"github.com/empirefederation/neuron/internal/wasmbin"
)

// The checks that keep the rewrite from making an invalid module valid.
// The rewrite adds two globals at the indexes right after the module's own,
// two export names, and an export of the start function; it adds no memory,
// table, function, type or segment. So a module invalid on its own stays
// invalid unless it names one of those globals (a global index at or past
// its count: in code, in a constant expression or in an export), exports
// one of those names itself, or has a start function that could not be one
// (out of range, or taking or returning values: an export may). Instrument
// refuses each case; the runtime validates all the rest as the module gave it.

// moduleInfo is what Instrument learns of a module before rewriting it.
type moduleInfo struct {
	globals       uint32 // imported and defined: the index of the flag
	funcs         uint32 // imported and defined
	importedFuncs uint32
	memories      uint64
	start         *uint32 // the start function, if any
}

// scan reads the counts the rewrite depends on. It refuses sections out of
// order or repeated, which make a module invalid and its counts ambiguous,
// and ids it does not know.
func scan(secs []section) (*moduleInfo, error) {
	m := &moduleInfo{}
	var globals, funcs uint64
	last := 0
	for _, s := range secs {
		if s.id == 0 {
			continue
		}
		o, ok := wasmbin.Order(s.id)
		if !ok {
			return nil, fmt.Errorf("%w: section id %d", ErrUnsupported, s.id)
		}
		if o <= last {
			return nil, fmt.Errorf("%w: section %d is out of order or repeated", ErrInvalid, s.id)
		}
		last = o
		switch s.id {
		case wasmbin.SecImport:
			g, mem, f, err := countImports(s.body)
			if err != nil {
				return nil, err
			}
			globals, m.memories, funcs = globals+g, m.memories+mem, funcs+f
			m.importedFuncs = uint32(f)
		case wasmbin.SecFunction, wasmbin.SecMemory, wasmbin.SecGlobal:
			n, err := vecCount(s.body)
			if err != nil {
				return nil, fmt.Errorf("interrupt: section %d: %w", s.id, err)
			}
			switch s.id {
			case wasmbin.SecFunction:
				funcs += n
			case wasmbin.SecMemory:
				m.memories += n
			case wasmbin.SecGlobal:
				globals += n
			}
		case wasmbin.SecStart:
			r := reader{wasmbin.Reader{B: s.body}}
			idx := r.U32()
			if r.Err != nil || len(r.B) != 0 {
				return nil, errors.New("interrupt: start section: not one function index")
			}
			m.start = &idx
		}
	}
	if globals > math.MaxUint32-2 || funcs > math.MaxUint32 {
		return nil, errors.New("interrupt: more globals or functions than a module can have")
	}
	m.globals, m.funcs = uint32(globals), uint32(funcs)
	return m, nil
}

// check refuses a module that names a global it does not have anywhere but
// in code (instrumentCode checks code), has an impossible start function,
// or exports a name the rewrite adds. A module without a memory has nothing
// for the check's memory.grow and is left to the caller (ErrUnsupported).
func (m *moduleInfo) check(secs []section) error {
	items := map[byte]func(uint32, *reader) error{
		wasmbin.SecTable: m.checkTable, wasmbin.SecGlobal: m.checkGlobalDef, wasmbin.SecExport: m.checkExport,
		wasmbin.SecElement: m.checkElement, wasmbin.SecData: m.checkData,
	}
	for _, s := range secs {
		if item := items[s.id]; item != nil {
			if err := eachItem(s.id, s.body, item); err != nil {
				return err
			}
		}
	}
	if m.start != nil {
		if err := m.checkStart(secs); err != nil {
			return err
		}
	}
	if m.memories == 0 {
		return fmt.Errorf("%w: a module without a memory", ErrUnsupported)
	}
	return nil
}

// eachItem calls item on each item of the vector b, the body of section
// id, which must hold exactly its count of items.
func eachItem(id byte, b []byte, item func(i uint32, r *reader) error) error {
	r := reader{wasmbin.Reader{B: b}}
	n := r.U32()
	for i := uint32(0); i < n && r.Err == nil; i++ {
		if err := item(i, &r); err != nil {
			return err
		}
	}
	switch {
	case r.Err != nil:
		return fmt.Errorf("interrupt: section %d: %w", id, r.Err)
	case len(r.B) != 0:
		return fmt.Errorf("interrupt: section %d: bytes after the last item", id)
	}
	return nil
}

// checkGlobal reads a global index and refuses one at or past globals.
func checkGlobal(r *reader, globals uint32) error {
	if i := r.U32(); r.Err == nil && i >= globals {
		return fmt.Errorf("global index %d is out of range: the module has %d globals", i, globals)
	}
	return nil
}

// constExpr reads a constant expression up to its end, refusing a global
// index at or past the module's count. It knows the instructions wazero
// allows there (with extended constants); any other is ErrUnsupported.
func (m *moduleInfo) constExpr(r *reader, where string, i uint32) error {
	for r.Err == nil {
		switch op := r.Byte(); op {
		case 0x0B: // end
			return nil
		case 0x23: // global.get
			if err := checkGlobal(r, m.globals); err != nil {
				return fmt.Errorf("%w: %s %d: %v", ErrInvalid, where, i, err)
			}
		case 0x41, 0x42: // i32.const, i64.const
			r.s64()
		case 0x43: // f32.const
			r.Take(4)
		case 0x44: // f64.const
			r.Take(8)
		case 0xD0: // ref.null
			r.heapType()
		case 0xD2: // ref.func
			r.U32()
		case 0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E: // i32 and i64 add, sub, mul
		default:
			if r.Err == nil {
				return fmt.Errorf("%w: instruction %#x in a constant expression", ErrUnsupported, op)
			}
		}
	}
	return r.Err
}

// checkTable reads a table type, with its initializer if it has one.
func (m *moduleInfo) checkTable(i uint32, r *reader) error {
	if len(r.B) > 0 && r.B[0] == 0x40 { // 0x40 0x00 tabletype expr
		r.Byte()
		if r.Byte() != 0x00 {
			return fmt.Errorf("interrupt: table %d: no 0x00 after 0x40", i)
		}
		r.refType()
		r.limits()
		return m.constExpr(r, "table", i)
	}
	r.refType()
	r.limits()
	return nil
}

// checkGlobalDef reads a global: its type and its initializer.
func (m *moduleInfo) checkGlobalDef(i uint32, r *reader) error {
	r.ValType()
	r.Byte() // mutability
	return m.constExpr(r, "initializer of global", i)
}

// checkExport reads an export, refusing a global one the module does not
// have, and an export of a name the rewrite adds (which it would repeat).
func (m *moduleInfo) checkExport(_ uint32, r *reader) error {
	name := string(r.Take(r.U32()))
	kind := r.Byte()
	if kind == 0x03 {
		if err := checkGlobal(r, m.globals); err != nil {
			return fmt.Errorf("%w: export %q: %v", ErrInvalid, name, err)
		}
	} else {
		r.U32()
	}
	if r.Err == nil && (name == Global || name == StartExport) {
		return fmt.Errorf("interrupt: module already exports %q", name)
	}
	return nil
}

// checkElement reads an element segment in any of its eight encodings,
// checking its offset and element expressions.
func (m *moduleInfo) checkElement(i uint32, r *reader) error {
	flags := r.U32()
	if r.Err != nil {
		return r.Err
	}
	if flags > 7 {
		return fmt.Errorf("interrupt: element segment %d: flags %d", i, flags)
	}
	if flags&0b011 == 0b010 { // active with a table index
		r.U32()
	}
	if flags&0b001 == 0 { // active: an offset
		if err := m.constExpr(r, "offset of element segment", i); err != nil {
			return err
		}
	}
	if flags&0b011 != 0 { // not flags 0 or 4: an element kind or type
		if flags&0b100 == 0 {
			r.Byte() // elemkind
		} else {
			r.refType()
		}
	}
	n := r.U32()
	for j := uint32(0); j < n && r.Err == nil; j++ {
		if flags&0b100 == 0 {
			r.U32() // a function index
		} else if err := m.constExpr(r, "expression of element segment", i); err != nil {
			return err
		}
	}
	return nil
}

// checkData reads a data segment, checking its offset.
func (m *moduleInfo) checkData(i uint32, r *reader) error {
	switch flags := r.U32(); flags {
	case 0, 2:
		if flags == 2 {
			r.U32() // memory index
		}
		if err := m.constExpr(r, "offset of data segment", i); err != nil {
			return err
		}
	case 1:
	default:
		if r.Err == nil {
			return fmt.Errorf("interrupt: data segment %d: flags %d", i, flags)
		}
	}
	r.Take(r.U32())
	return nil
}

// checkStart refuses a start function that does not exist or whose type
// takes or returns values: an export of it would be valid where the start
// section is not.
func (m *moduleInfo) checkStart(secs []section) error {
	fn := *m.start
	if fn >= m.funcs {
		return fmt.Errorf("%w: start function %d is out of range: the module has %d functions", ErrInvalid, fn, m.funcs)
	}
	var typ uint32
	var err error
	if fn < m.importedFuncs {
		typ, err = importedFuncType(sectionBody(secs, wasmbin.SecImport), fn)
	} else {
		typ, err = nthU32(sectionBody(secs, wasmbin.SecFunction), fn-m.importedFuncs)
	}
	if err != nil {
		return fmt.Errorf("interrupt: type of start function %d: %w", fn, err)
	}
	values, err := typeValues(sectionBody(secs, wasmbin.SecType), typ)
	if err != nil {
		return err
	}
	if values != 0 {
		return fmt.Errorf("%w: start function %d has parameters or results", ErrInvalid, fn)
	}
	return nil
}

// sectionBody returns the body of the section id, nil if there is none.
// scan made sure there is at most one.
func sectionBody(secs []section, id byte) []byte {
	for _, s := range secs {
		if s.id == id {
			return s.body
		}
	}
	return nil
}

// importedFuncType returns the type index of the function import fn.
func importedFuncType(b []byte, fn uint32) (uint32, error) {
	r := reader{wasmbin.Reader{B: b}}
	n := r.U32()
	for i := uint32(0); i < n && r.Err == nil; i++ {
		r.Name()
		r.Name()
		kind, typ := importDesc(&r)
		if kind == 0x00 {
			if fn == 0 {
				return typ, r.Err
			}
			fn--
		}
	}
	if r.Err != nil {
		return 0, r.Err
	}
	return 0, errors.New("no such import")
}

// nthU32 returns the item n of the vector of u32 b.
func nthU32(b []byte, n uint32) (uint32, error) {
	r := reader{wasmbin.Reader{B: b}}
	if count := r.U32(); r.Err == nil && n >= count {
		return 0, errors.New("no such function")
	}
	for range n {
		r.U32()
	}
	v := r.U32()
	return v, r.Err
}

// typeValues returns how many parameters and results the function type
// typ has. A type section with other than function types (GC) is
// ErrUnsupported.
func typeValues(b []byte, typ uint32) (uint64, error) {
	r := reader{wasmbin.Reader{B: b}}
	n := r.U32()
	if r.Err == nil && typ >= n {
		return 0, fmt.Errorf("%w: type index %d is out of range: the module has %d types", ErrInvalid, typ, n)
	}
	for i := uint32(0); r.Err == nil; i++ {
		if form := r.Byte(); form != 0x60 && r.Err == nil {
			return 0, fmt.Errorf("%w: type form %#x", ErrUnsupported, form)
		}
		var values uint64
		for range 2 { // parameters, results
			k := r.U32()
			values += uint64(k)
			for j := uint32(0); j < k && r.Err == nil; j++ {
				r.ValType()
			}
		}
		if i == typ {
			return values, r.Err
		}
	}
	return 0, fmt.Errorf("interrupt: type section: %w", r.Err)
}

// countImports returns the numbers of imported globals, memories and
// functions.
func countImports(b []byte) (globals, memories, funcs uint64, err error) {
	r := reader{wasmbin.Reader{B: b}}
	n := r.U32()
	for range n {
		r.Name()
		r.Name()
		switch kind, _ := importDesc(&r); kind {
		case 0x00:
			funcs++
		case 0x02:
			memories++
		case 0x03:
			globals++
		case 0x01, 0x04:
		default:
			return 0, 0, 0, fmt.Errorf("%w: import kind %#x", ErrUnsupported, kind)
		}
		if r.Err != nil {
			return 0, 0, 0, fmt.Errorf("interrupt: import section: %w", r.Err)
		}
	}
	switch {
	case r.Err != nil:
		return 0, 0, 0, fmt.Errorf("interrupt: import section: %w", r.Err)
	case len(r.B) != 0:
		return 0, 0, 0, errors.New("interrupt: import section: bytes after the last import")
	}
	return globals, memories, funcs, nil
}

// importDesc reads the kind and description of an import, returning the
// type index of a function. It reads nothing past an unknown kind.
func importDesc(r *reader) (kind byte, typ uint32) {
	switch kind = r.Byte(); kind {
	case 0x00: // func
		typ = r.U32()
	case 0x01: // table
		r.refType()
		r.limits()
	case 0x02: // memory
		r.limits()
	case 0x03: // global
		r.ValType()
		r.Byte()
	case 0x04: // tag
		r.Byte()
		r.U32()
	}
	return kind, typ
}

// vecCount returns the count of the vector b, which cannot exceed its
// bytes: every item takes at least one.
func vecCount(b []byte) (uint64, error) {
	r := reader{wasmbin.Reader{B: b}}
	n := r.U32()
	if r.Err == nil && uint64(n) > uint64(len(r.B)) {
		return 0, fmt.Errorf("a count of %d in %d bytes", n, len(r.B))
	}
	return uint64(n), r.Err
}
