package experiment

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func withSticky(tb testing.TB, sticky string) *Split {
	tb.Helper()
	e := experiment("exp-key", []string{"control", "b"}, 50, 50)
	e.StickyKey = sticky
	return mustCompile(tb, e)
}

func TestKey(t *testing.T) {
	tests := []struct {
		name    string
		sticky  string
		target  string
		header  http.Header
		body    string
		want    string
		wantOK  bool
		comment string
	}{
		{"header", "header:X-User", "/", http.Header{"X-User": {"u1"}}, "", "u1", true, ""},
		{"header any case", "header:x-user", "/", http.Header{"X-User": {"u1", "u2"}}, "", "u1", true, "first value"},
		{"header missing", "header:X-User", "/", http.Header{"X-Other": {"u1"}}, "", "", false, ""},
		{"header empty", "header:X-User", "/", http.Header{"X-User": {""}}, "", "", false, ""},
		{"query", "query:uid", "/p?a=1&uid=42&uid=43", nil, "", "42", true, "first value"},
		{"query escaped", "query:user id", "/p?user+id=a%2Fb+c", nil, "", "a/b c", true, ""},
		{"query missing", "query:uid", "/p?a=1", nil, "", "", false, ""},
		{"query empty", "query:uid", "/p?uid=&uid=2", nil, "", "", false, "first value is empty"},
		{"query bad escape skipped", "query:uid", "/p?uid=%zz&uid=2", nil, "", "2", true, "as url.ParseQuery"},
		{"query semicolon skipped", "query:uid", "/p?uid=1;x=2&uid=3", nil, "", "3", true, "as url.ParseQuery"},
		{"json string", "json:userId", "/", nil, `{"a": [1, {"userId": "no"}], "userId": "u-7", "b": 1}`, "u-7", true, "nested members do not count"},
		{"json number", "json:userId", "/", nil, `{"userId":-12.5e3}`, "-12.5e3", true, "literal text"},
		{"json number and string agree", "json:userId", "/", nil, `{"userId": 42 }`, "42", true, ""},
		{"json escaped value", "json:userId", "/", nil, `{"userId":"a\"b\u00e9"}`, `a"bé`, true, ""},
		{"json escaped name", "json:userId", "/", nil, `{"user\u0049d":"x"}`, "x", true, ""},
		{"json unicode name", "json:naïve", "/", nil, `{"naïve":"x"}`, "x", true, ""},
		{"json first wins", "json:id", "/", nil, `{"id":"1","id":"2"}`, "1", true, ""},
		{"json skips strings with brackets", "json:id", "/", nil, `{"x":"}{][\"","y":{"z":"}"},"id":"ok"}`, "ok", true, ""},
		{"json case-sensitive", "json:userId", "/", nil, `{"userid":"x"}`, "", false, ""},
		{"json empty string", "json:id", "/", nil, `{"id":""}`, "", false, ""},
		{"json object value", "json:id", "/", nil, `{"id":{"v":1}}`, "", false, ""},
		{"json bool value", "json:id", "/", nil, `{"id":true}`, "", false, ""},
		{"json null value", "json:id", "/", nil, `{"id":null}`, "", false, ""},
		{"json array body", "json:id", "/", nil, `[{"id":"x"}]`, "", false, ""},
		{"json not json", "json:id", "/", nil, `id=x`, "", false, ""},
		{"json empty body", "json:id", "/", nil, ``, "", false, ""},
		{"json truncated", "json:id", "/", nil, `{"a":"x`, "", false, ""},
		{"json number then junk", "json:id", "/", nil, `{"id":12ab}`, "", false, ""},
		{"no sticky key", "", "/p?uid=1", http.Header{"X-User": {"u1"}}, `{"id":"x"}`, "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := withSticky(t, tc.sticky)
			r := httptest.NewRequest(http.MethodPost, tc.target, strings.NewReader(tc.body))
			for k, v := range tc.header {
				r.Header[k] = v
			}
			got, ok := s.Key(r, []byte(tc.body))
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Key = %q, %v; want %q, %v %s", got, ok, tc.want, tc.wantOK, tc.comment)
			}
		})
	}
}

func TestKeyWithoutRequest(t *testing.T) {
	for _, sticky := range []string{"header:X-User", "query:uid"} {
		if k, ok := withSticky(t, sticky).Key(nil, nil); ok {
			t.Errorf("%s: Key(nil) = %q, true", sticky, k)
		}
		if k, ok := withSticky(t, sticky).Key(&http.Request{}, nil); ok {
			t.Errorf("%s: Key(no URL) = %q, true", sticky, k)
		}
	}
}

// refJSONField is encoding/json's answer to jsonField for a valid JSON
// document: the first top-level member named field, if a non-empty string
// or a number (its literal text).
func refJSONField(t *testing.T, body []byte, field string) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("reference decoder: %v", err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("reference decoder: %v", err)
		}
		if tok.(string) != field {
			continue
		}
		switch c := raw[0]; {
		case c == '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatalf("reference decoder: %v", err)
			}
			return s, s != ""
		case c == '-' || '0' <= c && c <= '9':
			return string(raw), true
		}
		return "", false
	}
	return "", false
}

// FuzzKey checks the JSON scanner against encoding/json on every valid
// document and that it never panics or reads out of bounds on the rest.
func FuzzKey(f *testing.F) {
	seeds := []struct{ body, field string }{
		{`{"userId":"u-1","x":[1,2,{"userId":3}]}`, "userId"},
		{`{"a":{"b":"}"},"id":-0.5E+2}`, "id"},
		{` { "id" : "\ud83d\ude00\"" } `, "id"},
		{`{"\u0069d":1,"id":2}`, "id"},
		{`{"x":"\\","id":"\\"}`, "id"},
		{`{"id":"caf\xc3\xa9"}`, "id"},
		{`{"id":"\xff"}`, "id"},
		{`{"\xff":"bad name"}`, "\ufffd"},
		{`{"id":true,"n":null,"id":"late"}`, "id"},
		{`[]`, "id"},
		{`{"id":`, "id"},
		{`{}`, ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.field)
	}
	f.Fuzz(func(t *testing.T, body []byte, field string) {
		got, ok := jsonField(body, field)
		if !json.Valid(body) {
			return
		}
		want, wantOK := refJSONField(t, body, field)
		if got != want || ok != wantOK {
			t.Errorf("jsonField(%q, %q) = %q, %v; encoding/json says %q, %v", body, field, got, ok, want, wantOK)
		}
	})
}

// FuzzQueryKey checks the query scanner against url.ParseQuery.
func FuzzQueryKey(f *testing.F) {
	for _, s := range []struct{ query, name string }{
		{"uid=1&uid=2", "uid"},
		{"a=1;uid=2&uid=3", "uid"},
		{"u%69d=%41&uid=x", "uid"},
		{"user+id=a+b", "user id"},
		{"uid=%zz&uid=ok", "uid"},
		{"uid&uid=2", "uid"},
		{"=x&&uid==", "uid"},
	} {
		f.Add(s.query, s.name)
	}
	f.Fuzz(func(t *testing.T, query, name string) {
		got, ok := queryValue(query, name)
		values, _ := url.ParseQuery(query)
		want := values.Get(name)
		if got != want || ok != (want != "") {
			t.Errorf("queryValue(%q, %q) = %q, %v; url.ParseQuery says %q", query, name, got, ok, want)
		}
	})
}

// TestKeyFromRealRequest reads the key from requests that crossed a real
// loopback HTTP connection, as the runtime will.
func TestKeyFromRealRequest(t *testing.T) {
	s := withSticky(t, "json:userId")
	q := withSticky(t, "query:uid")
	h := withSticky(t, "header:x-user")
	type result struct{ json, query, header string }
	got := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		j, _ := s.Key(r, body)
		qv, _ := q.Key(r, body)
		hv, _ := h.Key(r, body)
		got <- result{j, qv, hv}
	}))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/score?uid=q%201", strings.NewReader(`{"userId":"j-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-USER", "h-1")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := <-got; r != (result{"j-1", "q 1", "h-1"}) {
		t.Errorf("keys %+v, want json j-1, query \"q 1\", header h-1", r)
	}
}
