package sdk

import (
	"encoding/json"
	"strconv"

	"github.com/empirefederation/neuron/sdk/abi"
)

// Response is what a handler answers. A zero Status means 200.
//
// The Header slices of responses made by JSON, Text and Error are shared:
// use WithHeader to add headers rather than assigning to their elements.
type Response struct {
	Status int
	Header []abi.Pair
	Body   []byte
}

// Shared, read-only headers; the three-index slices make an append copy.
var (
	jsonHeader = []abi.Pair{{Name: "Content-Type", Value: "application/json"}}[:1:1]
	textHeader = []abi.Pair{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}}[:1:1]
)

// JSON returns a response with the given status whose body is v encoded by
// json.Marshal. When v cannot be encoded, JSON returns a 500 Error naming
// the reason instead.
func JSON(status int, v any) Response {
	b, err := json.Marshal(v)
	if err != nil {
		return Error(500, "encode response: "+err.Error())
	}
	return Response{Status: status, Header: jsonHeader, Body: b}
}

// Text returns a response with the given status and a plain-text body.
func Text(status int, s string) Response {
	return Response{Status: status, Header: textHeader, Body: []byte(s)}
}

// Error returns a response with the given status and the neuron's error
// body, {"error": msg, "code": code}, where code is a short name of the
// status, such as "not_found" for 404.
func Error(status int, msg string) Response {
	return ErrorCode(status, statusCode(status), msg)
}

// ErrorCode is Error with a code of the processor's choosing, such as
// "batch_too_large", for callers that branch on it.
func ErrorCode(status int, code, msg string) Response {
	b := make([]byte, 0, len(msg)+len(code)+24)
	b = append(b, `{"error":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, code)
	b = append(b, '}')
	return Response{Status: status, Header: jsonHeader, Body: b}
}

// WithHeader returns r with the header name: value added. It copies r's
// header slice, so responses that share one are not affected.
func (r Response) WithHeader(name, value string) Response {
	h := make([]abi.Pair, len(r.Header), len(r.Header)+1)
	copy(h, r.Header)
	r.Header = append(h, abi.Pair{Name: name, Value: value})
	return r
}

// statusCode is the error code Error uses for status.
func statusCode(status int) string {
	switch status {
	case 400:
		return "bad_request"
	case 401:
		return "unauthorized"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 405:
		return "method_not_allowed"
	case 409:
		return "conflict"
	case 413:
		return "payload_too_large"
	case 415:
		return "unsupported_media_type"
	case 422:
		return "unprocessable_entity"
	case 429:
		return "too_many_requests"
	case 500:
		return "internal_error"
	case 501:
		return "not_implemented"
	case 503:
		return "unavailable"
	}
	return "http_" + strconv.Itoa(status)
}
