package abi

import (
	"encoding/binary"
	"errors"
	"strconv"
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

// ErrMalformed matches, with errors.Is, every *MalformedError: an encoded
// request or response cut short, with a length that points past its end,
// too many pairs, or bytes after its body.
var ErrMalformed = errors.New("abi: malformed message")

// MalformedError says where an encoded message goes wrong and how, so that
// the author of a guest that encodes by hand can find the mistake.
type MalformedError struct {
	// Message is "request" or "response".
	Message string
	// Field is the field being read, such as "method", "headers[2].value"
	// or "body"; "end" for bytes after the body.
	Field string
	// Offset is where the field starts, in bytes from the message's start.
	Offset int
	// Problem says what was expected and what was found.
	Problem string
}

// Error reads like "abi: malformed response: field headers[0].value at
// offset 12: length 4096 runs past the end of the message (7 bytes left)".
func (e *MalformedError) Error() string {
	return "abi: malformed " + e.Message + ": field " + e.Field + " at offset " + strconv.Itoa(e.Offset) + ": " + e.Problem
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

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
	rd := reader{b: b, size: len(b), msg: "request"}
	var r Request
	r.Method = rd.str("method", -1, "")
	r.Path = rd.str("path", -1, "")
	r.Route = rd.str("route", -1, "")
	r.Vars = rd.pairs("vars")
	r.RawQuery = rd.str("rawQuery", -1, "")
	r.Header = rd.pairs("headers")
	r.Body = rd.bytes("body", -1, "")
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
	rd := reader{b: b, size: len(b), msg: "response"}
	var r Response
	r.Status = int(rd.u32("status", -1, ""))
	r.Header = rd.pairs("headers")
	r.Body = rd.bytes("body", -1, "")
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
// callers check once at the end. A field is named by name, with index and
// part for a pair's ("headers", 2, "value" is headers[2].value; index -1
// for a plain field); the name is formatted only when the field is bad.
type reader struct {
	b    []byte
	size int    // the whole message's length
	msg  string // "request" or "response"
	err  *MalformedError
}

// fail records the first problem, at the field that starts at offset at.
func (r *reader) fail(at int, name string, index int, part, problem string) {
	if r.err != nil {
		return
	}
	if index >= 0 {
		name += "[" + strconv.Itoa(index) + "]." + part
	}
	r.err = &MalformedError{Message: r.msg, Field: name, Offset: at, Problem: problem}
}

// at is the offset of the next byte to read.
func (r *reader) at() int { return r.size - len(r.b) }

func (r *reader) u32(name string, index int, part string) uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 4 {
		r.fail(r.at(), name, index, part, "needs 4 bytes (a u32), "+strconv.Itoa(len(r.b))+" left: the message is cut short")
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) bytes(name string, index int, part string) []byte {
	at := r.at()
	n := r.u32(name, index, part)
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)) {
		r.fail(at, name, index, part, "length "+strconv.FormatUint(uint64(n), 10)+" runs past the end of the message ("+
			nBytes(len(r.b))+" left): a length is a little-endian u32 before its bytes")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str(name string, index int, part string) string {
	return string(r.bytes(name, index, part))
}

func (r *reader) pairs(name string) []Pair {
	at := r.at()
	n := r.u32(name, -1, "")
	switch {
	case r.err != nil:
		return nil
	case n > MaxPairs:
		r.fail(at, name, -1, "", "count "+strconv.FormatUint(uint64(n), 10)+" is above the most a message may hold, "+strconv.Itoa(MaxPairs))
		return nil
	case uint64(n)*8 > uint64(len(r.b)):
		r.fail(at, name, -1, "", "count "+strconv.FormatUint(uint64(n), 10)+" needs at least "+strconv.FormatUint(uint64(n)*8, 10)+
			" more bytes (two lengths a pair), "+strconv.Itoa(len(r.b))+" left")
		return nil
	case n == 0:
		return nil
	}
	ps := make([]Pair, n)
	for i := range ps {
		ps[i] = Pair{r.str(name, i, "name"), r.str(name, i, "value")}
	}
	return ps
}

func (r *reader) end() error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		r.fail(r.at(), "end", -1, "", nBytes(len(r.b))+" after the body: the body's length must cover every byte to the end of the message")
		return r.err
	}
	return nil
}

// nBytes is "1 byte" or "N bytes".
func nBytes(n int) string {
	if n == 1 {
		return "1 byte"
	}
	return strconv.Itoa(n) + " bytes"
}
