package abi

import (
	"encoding/binary"
	"errors"
)

// The encoding of requests and responses. All integers are unsigned 32-bit
// little-endian; a string or byte field is its length followed by its bytes.
//
//	request:  method, path, route, u32 count + count×(name, value) path
//	          variables, raw query, u32 count + count×(name, value) headers,
//	          body
//	response: u32 status, u32 count + count×(name, value) headers, body
//
// The body comes last so that the host can read it from the network straight
// into guest memory. See docs/abi.md.

// ErrMalformed is returned when an encoded request or response is cut short,
// has a length that points past its end, or has bytes after its body.
var ErrMalformed = errors.New("abi: malformed message")

// MaxPairs bounds the number of path variables or headers in one message, so
// that a hostile count cannot make the decoder allocate without limit.
const MaxPairs = 1024

// Pair is a name and a value: a path variable or a header.
type Pair struct{ Name, Value string }

// Request is everything the host tells a handler about an HTTP request.
type Request struct {
	Method   string // GET, POST, ...
	Path     string // the request path, such as /users/42
	Route    string // the endpoint's declared path, such as /users/{id}
	Vars     []Pair // path variables, in the order the route declares them
	RawQuery string // the query string without '?', still URL-encoded
	Header   []Pair // the headers the processor asked for, canonical names
	Body     []byte
}

// HeadSize is the encoded size of r without its body bytes; the whole message
// is HeadSize() + len(body).
func (r *Request) HeadSize() int {
	n := 4*5 + len(r.Method) + len(r.Path) + len(r.Route) + len(r.RawQuery) + 4*2
	return n + pairsSize(r.Vars) + pairsSize(r.Header)
}

// EncodeHead writes r, less its body bytes, to the start of dst and returns
// the number of bytes written; the body's length prefix is bodyLen, so the
// caller must put exactly bodyLen bytes after it. dst must hold at least
// HeadSize() bytes. r.Body is ignored.
func (r *Request) EncodeHead(dst []byte, bodyLen int) int {
	w := writer{b: dst}
	w.str(r.Method)
	w.str(r.Path)
	w.str(r.Route)
	w.pairs(r.Vars)
	w.str(r.RawQuery)
	w.pairs(r.Header)
	w.u32(uint32(bodyLen))
	return w.n
}

// AppendRequest appends the whole encoding of r, body included, to dst.
func AppendRequest(dst []byte, r *Request) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, r.HeadSize())...)
	r.EncodeHead(dst[n:], len(r.Body))
	return append(dst, r.Body...)
}

// DecodeRequest parses an encoded request. Strings are copied; Body aliases b.
func DecodeRequest(b []byte) (Request, error) {
	rd := reader{b: b}
	var r Request
	r.Method = rd.str()
	r.Path = rd.str()
	r.Route = rd.str()
	r.Vars = rd.pairs()
	r.RawQuery = rd.str()
	r.Header = rd.pairs()
	r.Body = rd.bytes()
	if err := rd.end(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// Response is what a handler answers.
type Response struct {
	Status int
	Header []Pair
	Body   []byte
}

// AppendResponse appends the encoding of r to dst.
func AppendResponse(dst []byte, r *Response) []byte {
	n := len(dst)
	size := 4*3 + pairsSize(r.Header)
	dst = append(dst, make([]byte, size)...)
	w := writer{b: dst[n:]}
	w.u32(uint32(r.Status))
	w.pairs(r.Header)
	w.u32(uint32(len(r.Body)))
	return append(dst, r.Body...)
}

// DecodeResponse parses an encoded response. Strings are copied; Body aliases b.
func DecodeResponse(b []byte) (Response, error) {
	rd := reader{b: b}
	var r Response
	r.Status = int(rd.u32())
	r.Header = rd.pairs()
	r.Body = rd.bytes()
	if err := rd.end(); err != nil {
		return Response{}, err
	}
	return r, nil
}

func pairsSize(ps []Pair) int {
	n := 0
	for _, p := range ps {
		n += 8 + len(p.Name) + len(p.Value)
	}
	return n
}

type writer struct {
	b []byte
	n int
}

func (w *writer) u32(v uint32) {
	binary.LittleEndian.PutUint32(w.b[w.n:], v)
	w.n += 4
}

func (w *writer) str(s string) {
	w.u32(uint32(len(s)))
	w.n += copy(w.b[w.n:], s)
}

func (w *writer) pairs(ps []Pair) {
	w.u32(uint32(len(ps)))
	for _, p := range ps {
		w.str(p.Name)
		w.str(p.Value)
	}
}

// reader decodes until the first error and then returns zero values, so
// callers check once at the end.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) u32() uint32 {
	if r.bad || len(r.b) < 4 {
		r.bad = true
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.u32()
	if r.bad || uint64(n) > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.bytes()) }

func (r *reader) pairs() []Pair {
	n := r.u32()
	if r.bad || n > MaxPairs || uint64(n)*8 > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	if n == 0 {
		return nil
	}
	ps := make([]Pair, n)
	for i := range ps {
		ps[i] = Pair{r.str(), r.str()}
	}
	return ps
}

func (r *reader) end() error {
	if r.bad || len(r.b) != 0 {
		return ErrMalformed
	}
	return nil
}
