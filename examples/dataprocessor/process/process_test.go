package process

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func batch(records ...string) Batch {
	b := Batch{BatchID: "b1", Records: []json.RawMessage{}}
	for _, r := range records {
		b.Records = append(b.Records, json.RawMessage(r))
	}
	return b
}

var (
	v100 = Options{Version: "1.0.0"}
	v110 = Options{Version: "1.1.0", DedupEmail: true, Details: true}
)

func TestProcess(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		b    Batch
		want Result
	}{
		{"empty", v100, batch(), Result{BatchID: "b1"}},
		{"all valid", v100, batch(`{"id":"a","email":"a@x.io"}`, `{"id":2,"email":"b@x.io","extra":[1]}`),
			Result{BatchID: "b1", RecordsReceived: 2, RecordsProcessed: 2}},
		{"id duplicates", v100, batch(`{"id":"a","email":"a@x.io"}`, `{"id":"a","email":"z@x.io"}`, `{"id":"a","email":"y@x.io"}`),
			Result{BatchID: "b1", RecordsReceived: 3, RecordsProcessed: 1, DuplicatesFound: 2}},
		{"number and string ids differ only by type", v100, batch(`{"id":1,"email":"a@x.io"}`, `{"id":"1","email":"b@x.io"}`),
			Result{BatchID: "b1", RecordsReceived: 2, RecordsProcessed: 1, DuplicatesFound: 1}},
		{"1.0.0 ignores email duplicates", v100, batch(`{"id":"a","email":"a@x.io"}`, `{"id":"b","email":" A@X.io"}`),
			Result{BatchID: "b1", RecordsReceived: 2, RecordsProcessed: 2}},
		{"1.1.0 finds email duplicates", v110, batch(`{"id":"a","email":"a@x.io"}`, `{"id":"b","email":" A@X.io"}`),
			Result{BatchID: "b1", RecordsReceived: 2, RecordsProcessed: 1, DuplicatesFound: 1,
				Duplicates: []Duplicate{{Index: 1, ID: "b", Of: 0, By: "email"}}}},
		{"1.1.0 details", v110, batch(`{"id":"a","email":"a@x.io"}`, `[1]`, `{"id":"a","email":"b@x.io"}`, `{"id":"c"}`),
			Result{BatchID: "b1", RecordsReceived: 4, RecordsProcessed: 1, DuplicatesFound: 1, InvalidRecords: 2,
				Invalid:    []Problem{{Index: 1, Reason: "record is not a JSON object"}, {Index: 3, ID: "c", Reason: `"email" must be a string`}},
				Duplicates: []Duplicate{{Index: 2, ID: "a", Of: 0, By: "id"}}}},
		{"invalid records are counted, not fatal", v100, batch(`null`, `"x"`, `{}`, `{"id":""}`, `{"id":true,"email":"a@x.io"}`,
			`{"id":null,"email":"a@x.io"}`, `{"id":"a","email":"nope"}`, `{"id":"b","email":"b@x.io"}`),
			Result{BatchID: "b1", RecordsReceived: 8, RecordsProcessed: 1, InvalidRecords: 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Process(tc.b, tc.opts, 10); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestProcess_MaxDetails(t *testing.T) {
	b := batch()
	for range 50 {
		b.Records = append(b.Records, json.RawMessage(`{"id":"a","email":"a@x.io"}`), json.RawMessage(`{}`))
	}
	got := Process(b, v110, 3)
	if got.DuplicatesFound != 49 || got.InvalidRecords != 50 || len(got.Duplicates) != 3 || len(got.Invalid) != 3 {
		t.Errorf("got %d duplicates (%d listed), %d invalid (%d listed)", got.DuplicatesFound, len(got.Duplicates),
			got.InvalidRecords, len(got.Invalid))
	}
}

func TestValidEmail(t *testing.T) {
	tests := []struct {
		email string
		want  bool
	}{
		{"a@x.io", true}, {"first.last+tag@sub.example.com", true},
		{"", false}, {"a", false}, {"@x.io", false}, {"a@", false}, {"a@x", false}, {"a@.io", false},
		{"a@x.", false}, {"a@x..io", false}, {"a b@x.io", false}, {"a@b@x.io", false},
		{strings.Repeat("a", 250) + "@x.io", false},
	}
	for _, tc := range tests {
		if got := validEmail(tc.email); got != tc.want {
			t.Errorf("validEmail(%q) = %v, want %v", tc.email, got, tc.want)
		}
	}
}

func TestSelfTest(t *testing.T) {
	for _, opts := range []Options{v100, v110} {
		if err := SelfTest(opts); err != nil {
			t.Errorf("%s: %v", opts.Version, err)
		}
	}
	if err := SelfTest(Options{DedupEmail: true, Details: false}); err != nil {
		t.Errorf("details must not change the counts: %v", err)
	}
}

func BenchmarkProcess(b *testing.B) {
	bt := batch()
	for i := range 100 {
		bt.Records = append(bt.Records, json.RawMessage(`{"id":`+string(rune('0'+i%10))+`,"email":"a`+
			string(rune('0'+i%7))+`@example.com","name":"Ada"}`))
	}
	b.ReportAllocs()
	for b.Loop() {
		Process(bt, v110, 100)
	}
}

func TestJSONString(t *testing.T) {
	tests := []struct {
		raw  string
		want string
		ok   bool
	}{
		{`"plain"`, "plain", true},
		{`""`, "", true},
		{`"esc\"aped\n"`, "esc\"aped\n", true},
		{`"\u00e9t\u00e9"`, "été", true},
		{`42`, "", false},
		{`"unterminated`, "", false},
		{`"a` + "\x01" + `b"`, "", false},
		{`null`, "", true}, // as encoding/json: null leaves the string empty
	}
	for _, tc := range tests {
		got, ok := jsonString(json.RawMessage(tc.raw))
		if got != tc.want || ok != tc.ok {
			t.Errorf("jsonString(%s) = %q, %v; want %q, %v", tc.raw, got, ok, tc.want, tc.ok)
		}
	}
}
