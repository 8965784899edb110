package deploy

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	tail := " 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 4 0 %d 1000 10 18446744073709551615"
	for _, tc := range []struct {
		name, stat string
		start      uint64
		alive      bool
	}{
		{"running", "42 (baybus) S" + fmt.Sprintf(tail, 777), 777, true},
		{"a name with spaces and parentheses", "42 (bay (bus) x) R" + fmt.Sprintf(tail, 9), 9, true},
		{"zombie", "42 (baybus) Z" + fmt.Sprintf(tail, 777), 0, false},
		{"dead", "42 (baybus) X" + fmt.Sprintf(tail, 777), 0, false},
		{"short", "42 (baybus) S 1 1", 0, false},
		{"no name", "42 baybus S" + fmt.Sprintf(tail, 777), 0, false},
		{"start not a number", "42 (baybus) S" + strings.Replace(fmt.Sprintf(tail, 777), "777", "x", 1), 0, false},
		{"empty", "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, alive := parseStat([]byte(tc.stat))
			if start != tc.start || alive != tc.alive {
				t.Errorf("got %d %v, want %d %v", start, alive, tc.start, tc.alive)
			}
		})
	}
	// This process, from the real file.
	if _, ok := procStart(os.Getpid()); !ok {
		t.Error("this process does not look alive")
	}
}

func TestParsePID(t *testing.T) {
	if r, err := parsePID([]byte("123 456\n")); err != nil || r != (pidRecord{123, 456}) {
		t.Errorf("got %+v %v", r, err)
	}
	for _, bad := range []string{"", "123", "123 456 789", "x 456", "-1 456", "0 456", "123 -4", "123 4.5"} {
		if _, err := parsePID([]byte(bad)); !errors.Is(err, ErrPIDFile) {
			t.Errorf("%q: %v, want ErrPIDFile", bad, err)
		}
	}
}

// The pid file and /proc parsers never panic, and what parsePID accepts
// is a positive pid.
func FuzzParsePID(f *testing.F) {
	for _, s := range []string{"123 456\n", "", "1 2 3", "x y", "99999999999999999999 1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if r, err := parsePID(raw); err == nil && r.PID <= 0 {
			t.Fatalf("accepted pid %d", r.PID)
		}
	})
}

func FuzzParseStat(f *testing.F) {
	for _, s := range []string{"42 (baybus) S 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 4 0 777 1000 10", "42 (a) b) Z", ")", "(((", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _ = parseStat(raw)
	})
}
