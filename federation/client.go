package federation

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/empirefederation/neuron/internal/jsonkind"
)

// Federation endpoints, as the reference guide names them.
const (
	PathRegister  = "/api/neuron/register"
	PathStatus    = "/api/neuron/status"
	PathAnalytics = "/api/analytics/report"
	PathConfig    = "/api/neuron/config"
)

const (
	// DefaultTimeout bounds one federation call when NewClient is given no
	// http.Client: a federation that accepts the connection and never
	// answers must not hold a heartbeat or the queue forever.
	DefaultTimeout = 30 * time.Second
	// maxAnswerBytes bounds what is read of an answer: the federation's
	// answers are small, and a misbehaving one must not exhaust memory.
	maxAnswerBytes = 1 << 20
)

// Client makes the federation's calls: register, heartbeat, analytics and
// config. It keeps no state besides its configuration; the token is the
// caller's (see Session). It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
	ua   string
}

// NewClient returns a Client for the federation at baseURL (for example
// "http://federation:5000"), making its calls with hc (a client with
// DefaultTimeout when nil) and sending ua as the User-Agent.
func NewClient(baseURL string, hc *http.Client, ua string) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, ua: ua}
}

// NewHTTPClient returns an http.Client for NewClient whose calls are
// bounded by timeout and whose TLS connections use conf: the roots that
// verify the federation's certificate and the client certificate the
// neuron presents (nil: the system's roots, no client certificate). Its
// transport is http.DefaultTransport's settings (proxy from the
// environment, HTTP/2, idle connections) with conf. A federation
// certificate of a CA the neuron does not trust fails with the setting
// that fixes it. A redirect from https to plain http is refused: it would
// send the bearer token in clear (Go's client keeps Authorization on a
// redirect to the same host, whatever the scheme).
func NewHTTPClient(timeout time.Duration, conf *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = conf
	return &http.Client{Timeout: timeout, Transport: hintTransport{tr}, CheckRedirect: noDowngrade}
}

// noDowngrade is http.Client.CheckRedirect: the default rules (at most 10
// redirects), and never from https to http.
func noDowngrade(req *http.Request, via []*http.Request) error {
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refused a redirect from https to %s: the token would cross the network in clear; point FEDERATION_URL at where the federation serves", req.URL.Redacted())
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// hintTransport adds to a certificate verification failure what to do
// about it; the error, wrapped, stays what the transport returned.
type hintTransport struct{ *http.Transport }

// RoundTrip implements http.RoundTripper.
func (t hintTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.Transport.RoundTrip(r)
	if _, unknown := errors.AsType[x509.UnknownAuthorityError](err); unknown {
		err = fmt.Errorf("%w (the federation's certificate is signed by a CA this neuron does not trust: set FEDERATION_CA (federation.ca) to a PEM bundle holding that CA)", err)
	}
	return resp, err
}

// BaseURL returns the federation's base URL, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// Register registers the neuron (POST /api/neuron/register) and returns the
// token the federation issued in data.token. token, when not "", is the
// neuron's current (or last) token, sent as its bearer: it proves to the
// federation that this is the instance holding the id, which a federation
// requires to register a live id again. The federation answers 201 (200 is
// accepted too); an answer without a token is an error.
func (c *Client) Register(ctx context.Context, token string, reg Registration) (string, error) {
	body, err := json.Marshal(reg)
	if err != nil {
		return "", &Error{Op: OpRegister, Err: fmt.Errorf("encode registration: %w", err)}
	}
	status, data, err := c.call(ctx, OpRegister, http.MethodPost, PathRegister, token, body)
	if err != nil {
		return "", err
	}
	var d struct {
		Token string `json:"token"`
	}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &d); err != nil {
			return "", &Error{Op: OpRegister, Status: status, Message: "data is not an object with a token", Err: err}
		}
	}
	if d.Token == "" {
		return "", &Error{Op: OpRegister, Status: status, Message: "the answer has no data.token; check that FEDERATION_URL points at a federation"}
	}
	return d.Token, nil
}

// SendStatus sends a heartbeat (POST /api/neuron/status) with token.
func (c *Client) SendStatus(ctx context.Context, token string, s Status) error {
	body, err := json.Marshal(s)
	if err != nil {
		return &Error{Op: OpStatus, Err: fmt.Errorf("encode status: %w", err)}
	}
	_, _, err = c.call(ctx, OpStatus, http.MethodPost, PathStatus, token, body)
	return err
}

// ReportAnalytics sends an analytics report (POST /api/analytics/report)
// with token. body is the encoded AnalyticsReport, as the durable queue holds
// it; it is sent as is.
func (c *Client) ReportAnalytics(ctx context.Context, token string, body []byte) error {
	_, _, err := c.call(ctx, OpAnalytics, http.MethodPost, PathAnalytics, token, body)
	return err
}

// FetchConfig fetches the neuron's pending update (GET /api/neuron/config)
// with token, decoded from data with ParseUpdate. A null or absent data is
// an empty Update.
func (c *Client) FetchConfig(ctx context.Context, token string) (Update, error) {
	status, data, err := c.call(ctx, OpConfig, http.MethodGet, PathConfig, token, nil)
	if err != nil {
		return Update{}, err
	}
	if k := jsonkind.OfJSON(data); k == "nothing" || k == "null" {
		return Update{}, nil
	}
	u, err := ParseUpdate(data)
	if err != nil {
		return Update{}, &Error{Op: OpConfig, Status: status, Message: "data is not a valid update", Err: err}
	}
	return u, nil
}

// call makes one request and returns the answer's status and the raw "data"
// of a 2xx answer. A non-2xx answer or a transport failure is an *Error.
func (c *Client) call(ctx context.Context, op, method, path, token string, body []byte) (int, json.RawMessage, error) {
	req, err := c.newRequest(ctx, method, path, token, body)
	if err != nil {
		return 0, nil, &Error{Op: op, Err: err}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, &Error{Op: op, Err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return 0, nil, &Error{Op: op, Err: fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, nil, &Error{
			Op: op, Status: resp.StatusCode, Message: answerMessage(answer),
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	}
	if len(answer) > maxAnswerBytes {
		return resp.StatusCode, nil, &Error{Op: op, Status: resp.StatusCode, Message: fmt.Sprintf("answer larger than %d bytes", maxAnswerBytes)}
	}
	// Only register and config need the answer's data; for the others any
	// 2xx is an acceptance unless the answer explicitly says otherwise.
	needData := op == OpRegister || op == OpConfig
	data, err := envelopeData(answer, needData)
	if err != nil {
		return resp.StatusCode, nil, &Error{Op: op, Status: resp.StatusCode, Message: "malformed answer", Err: err}
	}
	return resp.StatusCode, data, nil
}

func (c *Client) newRequest(ctx context.Context, method, path, token string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return nil, fmt.Errorf("build request (check FEDERATION_URL %q): %w", c.base, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	}
	return req, nil
}

// envelopeData returns the "data" of a federation answer
// {"success": true, "data": ...}. An empty body has no data. "success":
// false is an error; so is a body that is not a JSON object when needData.
func envelopeData(answer []byte, needData bool) (json.RawMessage, error) {
	if len(bytes.TrimSpace(answer)) == 0 {
		return nil, nil
	}
	var env struct {
		Success *bool           `json:"success"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(answer, &env); err != nil {
		if !needData {
			return nil, nil
		}
		return nil, fmt.Errorf("answer is not a JSON object: %w", err)
	}
	if env.Success != nil && !*env.Success {
		return nil, errors.New("answer says success: false: " + answerMessage(answer))
	}
	return env.Data, nil
}
