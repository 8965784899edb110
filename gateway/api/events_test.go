package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/baybus/baybus/gateway/api"
)

// read drains an EventReader: the events, the indexes reported too large,
// and the final error (nil at a clean end).
func read(t *testing.T, in string, layout api.Layout, opt api.ReaderOptions) (events []string, tooLarge []int, single bool, final error) {
	t.Helper()
	r := api.NewEventReader(strings.NewReader(in), layout, opt)
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("reader does not end")
		}
		ev, err := r.Next()
		var ee *api.EventError
		switch {
		case err == io.EOF:
			return events, tooLarge, r.Single(), nil
		case errors.As(err, &ee):
			if !errors.Is(err, api.ErrEventTooLarge) {
				t.Fatalf("event error %v does not match ErrEventTooLarge", err)
			}
			tooLarge = append(tooLarge, ee.Index)
		case err != nil:
			if again, err2 := r.Next(); again != nil || err2 != err {
				t.Fatalf("after a final error, Next gave %q, %v", again, err2)
			}
			return events, tooLarge, r.Single(), err
		default:
			events = append(events, string(ev))
		}
	}
}

func TestEventReader(t *testing.T) {
	big := `{"x":"` + strings.Repeat("a", 100) + `"}`
	for _, tc := range []struct {
		name     string
		layout   api.Layout
		in       string
		want     []string
		tooLarge []int
		single   bool
		err      error
	}{
		{"one object", api.JSON, ` {"a":1} `, []string{`{"a":1}`}, nil, true, nil},
		{"pretty object", api.JSON, "{\n  \"a\": [1, {\"b\": \"}]\"}]\n}\n", []string{"{\n  \"a\": [1, {\"b\": \"}]\"}]\n}"}, nil, true, nil},
		{"array", api.JSON, `[{"a":1}, {"b":"x,]"} ,{"c":"\"}"}]`, []string{`{"a":1}`, `{"b":"x,]"}`, `{"c":"\"}"}`}, nil, false, nil},
		{"array of scalars", api.JSON, `[1, "two", null,true]`, []string{`1`, `"two"`, `null`, `true`}, nil, false, nil},
		{"byte order mark", api.JSON, "\xEF\xBB\xBF[{}]", []string{`{}`}, nil, false, nil},
		{"malformed element balanced", api.JSON, `[{"a":}, {"b":2}]`, []string{`{"a":}`, `{"b":2}`}, nil, false, nil},
		{"too large in array", api.JSON, `[{"a":1},` + big + `,{"c":3}]`, []string{`{"a":1}`, `{"c":3}`}, []int{1}, false, nil},
		{"too large single", api.JSON, big, nil, []int{0}, true, nil},
		{"empty body", api.JSON, "  \n", nil, nil, false, api.ErrSyntax},
		{"empty array", api.JSON, `[ ]`, nil, nil, false, api.ErrSyntax},
		{"unclosed array", api.JSON, `[{"a":1},{"b":2}`, []string{`{"a":1}`, `{"b":2}`}, nil, false, api.ErrSyntax},
		{"missing comma", api.JSON, `[{"a":1}{"b":2}]`, []string{`{"a":1}`}, nil, false, api.ErrSyntax},
		{"trailing comma", api.JSON, `[{"a":1},]`, []string{`{"a":1}`}, nil, false, api.ErrSyntax},
		{"data after array", api.JSON, `[{"a":1}] {}`, []string{`{"a":1}`}, nil, false, api.ErrSyntax},
		{"two objects as JSON", api.JSON, `{"a":1} {"b":2}`, []string{`{"a":1}`}, nil, true, api.ErrSyntax},
		{"unterminated string", api.JSON, `[{"a":"x}]`, nil, nil, false, api.ErrSyntax},
		{"jsonl", api.JSONL, "{\"a\":1}\n\n  {\"b\":2}\r\n{\"c\":3}", []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}, nil, false, nil},
		{"jsonl malformed line kept", api.JSONL, "{\"a\":1}\n{\"b\":\n{\"c\":3}\n", []string{`{"a":1}`, `{"b":`, `{"c":3}`}, nil, false, nil},
		{"jsonl too large", api.JSONL, "{\"a\":1}\n" + big + "\n{\"c\":3}\n", []string{`{"a":1}`, `{"c":3}`}, []int{1}, false, nil},
		{"jsonl empty", api.JSONL, "\n \n", nil, nil, false, nil},
		{"auto array", api.Auto, ` [{"a":1},{"b":2}]`, []string{`{"a":1}`, `{"b":2}`}, nil, false, nil},
		{"auto stream of pretty objects", api.Auto, "{\n \"a\": 1\n}\n{\"b\":\n 2}", []string{"{\n \"a\": 1\n}", "{\"b\":\n 2}"}, nil, false, nil},
		{"auto jsonl", api.Auto, "{\"a\":1}\n{\"b\":2}\n", []string{`{"a":1}`, `{"b":2}`}, nil, false, nil},
		{"auto empty", api.Auto, "", nil, nil, false, api.ErrSyntax},
		{"auto unterminated", api.Auto, `{"a":1} {"b":`, []string{`{"a":1}`}, nil, false, api.ErrSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, tooLarge, single, err := read(t, tc.in, tc.layout, api.ReaderOptions{MaxEventBytes: 64})
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("events %q, want %q", got, tc.want)
			}
			if len(tooLarge) != len(tc.tooLarge) || (len(tooLarge) > 0 && tooLarge[0] != tc.tooLarge[0]) {
				t.Errorf("too large %v, want %v", tooLarge, tc.tooLarge)
			}
			if tc.err == nil && single != tc.single {
				t.Errorf("single %v, want %v", single, tc.single)
			}
		})
	}
}

// TestEventReaderMaxEvents: the event past the bound ends the input,
// whatever the layout, and nothing of it is returned.
func TestEventReaderMaxEvents(t *testing.T) {
	for name, tc := range map[string]struct {
		layout api.Layout
		in     string
	}{
		"array": {api.JSON, `[{},{},{},{}]`},
		"jsonl": {api.JSONL, "{}\n{}\n\n{}\n{}\n"},
		"auto":  {api.Auto, "{} {} {} {}"},
	} {
		t.Run(name, func(t *testing.T) {
			got, _, _, err := read(t, tc.in, tc.layout, api.ReaderOptions{MaxEvents: 3})
			if !errors.Is(err, api.ErrTooManyEvents) || len(got) != 3 {
				t.Fatalf("events %q, error %v; want 3 events, then ErrTooManyEvents", got, err)
			}
		})
	}
	got, _, _, err := read(t, `[{},{},{}]`, api.JSON, api.ReaderOptions{MaxEvents: 3})
	if err != nil || len(got) != 3 {
		t.Fatalf("exactly the bound: %q, %v", got, err)
	}
}

// TestEventReaderBoundedMemory: an event far over the bound is skipped
// without being held: reading it allocates about the bound, not its size.
func TestEventReaderBoundedMemory(t *testing.T) {
	huge := `[{"a":"` + strings.Repeat("x", 8<<20) + `"},{"b":1}]`
	var got []string
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			r := api.NewEventReader(strings.NewReader(huge), api.JSON, api.ReaderOptions{MaxEventBytes: 1024})
			got = got[:0]
			for {
				ev, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil && !errors.Is(err, api.ErrEventTooLarge) {
					b.Fatal(err)
				}
				if ev != nil {
					got = append(got, string(ev))
				}
			}
		}
	})
	if len(got) != 1 || got[0] != `{"b":1}` {
		t.Fatalf("events %q", got)
	}
	if per := allocs.AllocedBytesPerOp(); per > 1<<20 {
		t.Fatalf("reading an 8 MiB event with a 1 KiB bound allocated %d bytes", per)
	}
}

// TestEventReaderReadError: the underlying reader's error ends the input
// and is wrapped, not mistaken for the end.
func TestEventReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	r := api.NewEventReader(io.MultiReader(strings.NewReader(`[{"a":1},{"b"`), iotest.ErrReader(boom)), api.JSON, api.ReaderOptions{})
	if ev, err := r.Next(); err != nil || string(ev) != `{"a":1}` {
		t.Fatalf("first: %q %v", ev, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("second: %v, want the reader's error", err)
	}
}

func TestLayoutOf(t *testing.T) {
	for ct, want := range map[string]api.Layout{
		"application/json":                  api.JSON,
		"application/json; charset=utf-8":   api.JSON,
		"application/vnd.city.event+json":   api.JSON,
		"application/jsonl":                 api.JSONL,
		"application/x-ndjson":              api.JSONL,
		"application/jsonlines; q=1":        api.JSONL,
		"application/x-jsonlines":           api.JSONL,
		"APPLICATION/JSON":                  api.JSON,
		"application/json;charset=\"utf8\"": api.JSON,
	} {
		if got, err := api.LayoutOf(ct); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", ct, got, err, want)
		}
	}
	for _, ct := range []string{"", "text/plain", "application/xml", "json", "application/json; ="} {
		if _, err := api.LayoutOf(ct); !errors.Is(err, api.ErrMediaType) {
			t.Errorf("%q: %v, want ErrMediaType", ct, err)
		}
	}
}

// FuzzEventReader: the reader never panics, never returns an empty event,
// ends, and on valid JSON agrees with encoding/json: an array's elements,
// or the one value.
func FuzzEventReader(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[{"a":1},{"b":[2,"]"]}]`, "{\"a\":1}\n\n{\"b\":2}\n", `[1,"x",null]`, `["\"\\"]`, `[{}`, `{} {}`, "\xEF\xBB\xBF[{}]"} {
		for _, l := range []api.Layout{api.Auto, api.JSON, api.JSONL} {
			f.Add(uint8(l), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, layout uint8, in []byte) {
		l := api.Layout(layout % 3)
		r := api.NewEventReader(bytes.NewReader(in), l, api.ReaderOptions{MaxEventBytes: 1 << 20})
		var events []json.RawMessage
		var final error
		for i := 0; ; i++ {
			if i > len(in)+2 {
				t.Fatal("more events than bytes")
			}
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				final = err
				break
			}
			if len(ev) == 0 {
				t.Fatal("empty event")
			}
			events = append(events, ev)
		}
		if l != api.JSON || !json.Valid(in) {
			return
		}
		trimmed := bytes.TrimSpace(bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF")))
		if trimmed[0] != '[' {
			if final != nil || len(events) != 1 || !bytes.Equal(events[0], trimmed) {
				t.Fatalf("valid value read as %q, %v", events, final)
			}
			return
		}
		var want []json.RawMessage
		if err := json.Unmarshal(trimmed, &want); err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			if !errors.Is(final, api.ErrSyntax) {
				t.Fatalf("empty array: %v", final)
			}
			return
		}
		if final != nil || len(events) != len(want) {
			t.Fatalf("valid array of %d read as %d events, %v", len(want), len(events), final)
		}
		for i := range want {
			if !bytes.Equal(events[i], bytes.TrimSpace(want[i])) {
				t.Fatalf("element %d: %q, want %q", i, events[i], want[i])
			}
		}
	})
}
