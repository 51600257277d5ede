package experiment

import (
	"encoding/json"
	"net/url"
	"strings"
	"unicode/utf8"
)

// queryValue returns the first value of parameter name in a raw query, with
// url.ParseQuery's rules (pairs split on '&', pairs with ';' or bad escapes
// skipped, '+' is a space) but without building the whole url.Values map.
// An empty value is no key.
func queryValue(q, name string) (string, bool) {
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		eq, plain := -1, true
		for i := 0; i < len(pair) && plain; i++ {
			switch pair[i] {
			case '=':
				if eq < 0 {
					eq = i
				}
			case ';', '%', '+':
				plain = false
			}
		}
		if plain { // the common case: nothing to decode or refuse
			if eq < 0 {
				eq = len(pair)
			}
			if pair == "" || pair[:eq] != name {
				continue
			}
			v := pair[min(eq+1, len(pair)):]
			return v, v != ""
		}
		if v, ok := decodePair(pair, name); ok {
			return v, v != ""
		}
	}
	return "", false
}

// decodePair returns the value of a pair with escapes if its key is name,
// and false if it is not or url.ParseQuery would skip it.
func decodePair(pair, name string) (string, bool) {
	if strings.Contains(pair, ";") {
		return "", false
	}
	k, v, _ := strings.Cut(pair, "=")
	k, ok := unescapeQuery(k)
	if !ok || k != name {
		return "", false
	}
	return unescapeQuery(v)
}

// unescapeQuery decodes a query key or value, allocating only when it has
// something to decode.
func unescapeQuery(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, true
	}
	s, err := url.QueryUnescape(s)
	return s, err == nil
}

// jsonField returns the value of the first member named field of the JSON
// object in b, if it is a non-empty string or a number (as its literal
// text). It scans without recursion or allocation up to that member: the
// values of other members are skipped by counting brackets, never decoded.
// Invalid JSON after the member is not noticed; the processor will refuse
// the body anyway. Names and strings with escapes or non-ASCII bytes are
// decoded by encoding/json, so they mean exactly what they mean there.
func jsonField(b []byte, field string) (string, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return "", false
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return "", false // '}' (not found) or not JSON
		}
		end, plain := scanString(b, i)
		if end < 0 {
			return "", false
		}
		match := nameIs(b[i:end], plain, field)
		if i = skipSpace(b, end); i >= len(b) || b[i] != ':' {
			return "", false
		}
		i = skipSpace(b, i+1)
		if match {
			return scalar(b, i)
		}
		if i = skipValue(b, i); i < 0 {
			return "", false
		}
		if i = skipSpace(b, i); i >= len(b) || b[i] != ',' {
			return "", false
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index just past the string literal starting at
// b[i] == '"', or -1 if it does not end. plain is true when it has no
// escapes and only ASCII, so its bytes are its value.
func scanString(b []byte, i int) (end int, plain bool) {
	plain = true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, plain
		case c == '\\':
			plain = false
			j++
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	return -1, false
}

// nameIs reports whether the string literal lit (quotes included) decodes
// to field.
func nameIs(lit []byte, plain bool, field string) bool {
	if plain {
		return string(lit[1:len(lit)-1]) == field
	}
	s, ok := unquote(lit)
	return ok && s == field
}

// unquote decodes a string literal with escapes or non-ASCII bytes the way
// encoding/json does (invalid UTF-8 becomes U+FFFD).
func unquote(lit []byte) (string, bool) {
	var s string
	err := json.Unmarshal(lit, &s)
	return s, err == nil
}

// scalar returns the key a member's value at b[i] gives: a non-empty
// string's value or a number's literal text.
func scalar(b []byte, i int) (string, bool) {
	if i >= len(b) {
		return "", false
	}
	switch c := b[i]; {
	case c == '"':
		end, plain := scanString(b, i)
		if end < 0 {
			return "", false
		}
		if plain {
			return string(b[i+1 : end-1]), end-i > 2
		}
		s, ok := unquote(b[i:end])
		return s, ok && s != ""
	case c == '-' || '0' <= c && c <= '9':
		end := i + 1
		for end < len(b) && strings.IndexByte("0123456789.eE+-", b[end]) >= 0 {
			end++
		}
		if end < len(b) && !isDelim(b[end]) {
			return "", false
		}
		return string(b[i:end]), true
	}
	return "", false // object, array, true, false, null or not JSON
}

// skipValue returns the index just past the JSON value at b[i], or -1.
// Objects and arrays are skipped by counting brackets outside strings.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := scanString(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := scanString(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	if end := skipLiteral(b, i); end > i {
		return end
	}
	return -1
}

// skipLiteral returns the index just past a number, true, false or null.
func skipLiteral(b []byte, i int) int {
	for i < len(b) && !isDelim(b[i]) && b[i] != '"' {
		i++
	}
	return i
}

func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', '}', ']', ':', '{', '[':
		return true
	}
	return false
}
