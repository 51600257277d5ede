package sdk

import "github.com/empirefederation/neuron/sdk/abi"

// The buffers below live in package variables so that the GC keeps them and
// the host may read them after an export returns. They are reused by every
// call, so a steady stream of requests allocates no buffers.
var (
	reqBuf  []byte  // neuron_alloc: owned by the host until the next alloc
	respBuf []byte  // neuron_handle: valid until the next export call
	req     Request // the Request handed to handlers, reset after each call
)

// minAlloc is the smallest request buffer, so that tiny requests never grow
// it and a zero-size allocation still has an address.
const minAlloc = 4 << 10

// alloc returns a buffer of size bytes for the host to write a request into:
// reqBuf, grown when it is too small.
func alloc(size uint32) []byte {
	if uint64(cap(reqBuf)) < uint64(size) || cap(reqBuf) == 0 {
		reqBuf = make([]byte, max(int(size), 2*cap(reqBuf), minAlloc))
	}
	return reqBuf[:size]
}

// handle serves one encoded request with the handler its method and route
// select and returns the encoded response, which aliases respBuf.
func handle(b []byte) []byte {
	return reg.serve(b)
}

func (g *registry) serve(b []byte) []byte {
	var resp Response
	if !decodeRequest(b, &req) {
		resp = Error(400, malformedRequest(b))
	} else if h := g.lookup(req.Method, req.Route); h != nil {
		resp = h(&req)
	} else {
		resp = Error(404, "no handler for "+req.Method+" "+req.Route)
	}
	req = Request{} // drop references into reqBuf and the handler's data
	if resp.Status == 0 {
		resp.Status = 200
	}
	ar := abi.Response(resp)
	respBuf = abi.AppendResponse(respBuf[:0], &ar)
	return respBuf
}

// malformedRequest says what is wrong with a request decodeRequest
// refused, decoding it again with package abi for the detail: the rare
// path of a host that does not speak this SDK's ABI.
func malformedRequest(b []byte) string {
	msg := "sdk: the host sent a malformed request"
	if _, err := abi.DecodeRequest(b); err != nil {
		msg += ": " + err.Error()
	}
	return msg
}
