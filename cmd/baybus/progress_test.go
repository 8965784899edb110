package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// pretend is a writer the test says is a terminal.
type pretend struct{ bytes.Buffer }

func TestProgressOnlyOnATerminal(t *testing.T) {
	isTerm := func(w io.Writer) bool { _, ok := w.(*pretend); return ok }
	env := func(vals map[string]string) func(string) string { return func(k string) string { return vals[k] } }
	for _, tc := range []struct {
		name           string
		stdout, stderr io.Writer
		data           bool
		env            map[string]string
		want           bool
	}{
		{"stderr a pipe", &pretend{}, &bytes.Buffer{}, false, nil, false},
		{"both a terminal, text out", &pretend{}, &pretend{}, false, nil, true},
		{"both a terminal, JSON out", &pretend{}, &pretend{}, true, nil, false},
		{"JSON to a file, bar to the terminal", &bytes.Buffer{}, &pretend{}, true, nil, true},
		{"TERM=dumb", &bytes.Buffer{}, &pretend{}, false, map[string]string{"TERM": "dumb"}, false},
		{"turned off", &bytes.Buffer{}, &pretend{}, false, map[string]string{noProgressEnv: "1"}, false},
	} {
		p := newProgress(progressOut{stdout: tc.stdout, stderr: tc.stderr, dataOnStdout: tc.data, isTerminal: isTerm, getenv: env(tc.env)}, 100, "working", false)
		if (p != nil) != tc.want {
			t.Errorf("%s: bar %v, want %v", tc.name, p != nil, tc.want)
		}
		p.Add(100)
		p.Done()
		if b, ok := tc.stdout.(interface{ Len() int }); ok && b.Len() != 0 {
			t.Errorf("%s: the bar wrote to stdout", tc.name)
		}
	}

	// What a bar draws, and that it goes away.
	term := &pretend{}
	p := newProgress(progressOut{stdout: &bytes.Buffer{}, stderr: term, isTerminal: isTerm, getenv: env(nil), every: time.Nanosecond}, 10, "verifying hongkong", false)
	p.Set(5)
	if s := term.String(); !strings.Contains(s, "verifying hongkong") || !strings.Contains(s, "5/10") {
		t.Errorf("the bar drew %q", s)
	}
	p.Set(10)
	p.Phase(4, "verifying macao")
	p.Add(2)
	if s := term.String(); !strings.Contains(s, "verifying macao") || !strings.Contains(s, "2/4") {
		t.Errorf("the bar drew %q", s)
	}
	n := term.Len()
	p.Done()
	if cleared := term.String()[n:]; strings.TrimSpace(cleared) != "" || !strings.HasSuffix(cleared, "\r") {
		t.Errorf("Done left %q", cleared)
	}

	// A nil bar does nothing and reads through.
	var none *progress
	none.Add(1)
	none.Set(1)
	none.Phase(1, "x")
	none.Done()
	if b, _ := io.ReadAll(none.Reader(strings.NewReader("abc"))); string(b) != "abc" {
		t.Errorf("nil bar's reader: %q", b)
	}
	bytesBar := newProgress(progressOut{stdout: &bytes.Buffer{}, stderr: &pretend{}, isTerminal: isTerm, getenv: env(nil)}, 3, "publishing", true)
	if b, _ := io.ReadAll(bytesBar.Reader(strings.NewReader("abc"))); string(b) != "abc" {
		t.Errorf("bar's reader: %q", b)
	}
}

// TestSampleLargeNKeepsItsOutputClean: with a large --n, and stdout and
// stderr not terminals (a pipe, as here), sample writes JSONL only, and
// nothing on stderr.
func TestSampleLargeNKeepsItsOutputClean(t *testing.T) {
	if testing.Short() {
		t.Skip("samples 10,000 events")
	}
	out, errOut, code := runCmd(t, newSampleCmd(), "", "--city", "hongkong", "--n", "10000", "--seed", "4")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := outLines(out)
	if len(lines) != 10000 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("not JSON: %q", l)
		}
	}
}
