package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParsePeerTPS(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want float64
		err  error
	}{
		{"committed 1234.5 tx/s\n", 1234.5, nil},
		{"TPS: 2,048\n", 2048, nil},
		{"warm-up 10 tx/s\nsteady 3000 tps\n", 3000, nil}, // the last line with a figure
		{"tps=77 and later nothing\nbye\n", 77, nil},
		{"12 TX/S", 12, nil},
		{"no figure here\n", 0, ErrPeerOutput},
		{"", 0, ErrPeerOutput},
		{"1234 txs\n", 0, ErrPeerOutput},     // not a rate
		{"stops 5 tpsx\n", 0, ErrPeerOutput}, // not the word
	} {
		got, err := parsePeerTPS([]byte(tc.out))
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("parsePeerTPS(%q) = %v, %v; want %v, %v", tc.out, got, err, tc.want, tc.err)
		}
	}
}

// TestRunPeer runs real shell commands: the run's setup reaches the
// command, and a failing command or one without a figure is reported in
// the result, not as an error of the run.
func TestRunPeer(t *testing.T) {
	cfg := Config{Duration: 15 * time.Second, Size: 1024, Orderers: 4, Cities: 11}
	for _, tc := range []struct {
		name, cmd string
		tps       float64
		err       string
	}{
		{"figure", `echo "$BAYBUS_BENCH_ORDERERS validators, $BAYBUS_BENCH_SIZE B, $BAYBUS_BENCH_DURATION s, $BAYBUS_BENCH_CITIES"; echo "1000 tx/s"`, 1000, ""},
		{"setup", `[ "$BAYBUS_BENCH_DURATION" = 15 ] && [ "$BAYBUS_BENCH_SIZE" = 1024 ] && [ "$BAYBUS_BENCH_ORDERERS" = 4 ] && echo "tps: 500"`, 500, ""},
		{"fails", `echo started; echo "no peer installed" >&2; exit 3`, 0, "no peer installed"},
		{"silent", `echo done`, 0, ErrPeerOutput.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.PeerCmd = tc.cmd
			res := runPeer(context.Background(), c, 2000)
			if res.TPS != tc.tps || !strings.Contains(res.Error, tc.err) || (tc.err == "") != (res.Error == "") {
				t.Fatalf("got %+v, want tps %v and error containing %q", res, tc.tps, tc.err)
			}
			if tc.tps > 0 && res.Ratio != 2000/tc.tps {
				t.Fatalf("ratio %v, want %v", res.Ratio, 2000/tc.tps)
			}
		})
	}
	c := cfg
	c.PeerCmd, c.PeerTimeout = "sleep 30", 100*time.Millisecond
	if res := runPeer(context.Background(), c, 1); res.Error == "" || res.WallS > 20 {
		t.Fatalf("a command past its timeout: %+v, want an error well before it ends", res)
	}
}
