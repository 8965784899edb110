package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrPeerOutput: the peer's command printed no throughput the bench can
// read (see PeerResult).
var ErrPeerOutput = errors.New("bench: peer command printed no tx/s figure")

// DefaultPeerTimeout is Config.PeerTimeout's default.
const DefaultPeerTimeout = 10 * time.Minute

// PeerResult is another system's throughput, measured by a command of the
// user's in the same run and on the same machine (Config.PeerCmd), after
// baybus's pipeline has stopped, so the two do not share the CPU. The bench
// bundles no peer: the command runs it (CometBFT's kvstore with four
// validators is the usual reference; docs/performance.md shows how) and
// prints its committed throughput on a line of its standard output, either
// as "<number> tx/s" (or "tps") or as "tps: <number>" (or "tps=");
// the last such line counts.
//
// The command runs under "sh -c" with BAYBUS_BENCH_DURATION (seconds),
// BAYBUS_BENCH_SIZE (bytes per transaction), BAYBUS_BENCH_ORDERERS and
// BAYBUS_BENCH_CITIES set to the run's, so it can load its peer alike.
type PeerResult struct {
	Cmd   string  `json:"cmd"`
	TPS   float64 `json:"tps"`   // the peer's committed tx/s as it printed it
	Ratio float64 `json:"ratio"` // baybus's committed_tps over TPS
	WallS float64 `json:"wall_s"`
	Error string  `json:"error,omitempty"` // why there is no figure
}

// peerFigure matches "1234.5 tx/s", "1,234 tps", "TPS: 1234", "tps=1234".
var peerFigure = regexp.MustCompile(`(?i)(?:\btps\s*[:=]\s*([0-9][0-9,]*(?:\.[0-9]+)?))|(?:([0-9][0-9,]*(?:\.[0-9]+)?)\s*(?:tx/s|txs/s|tps)\b)`)

// parsePeerTPS returns the figure of the last line of out that has one.
func parsePeerTPS(out []byte) (float64, error) {
	var last string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		for _, m := range peerFigure.FindAllStringSubmatch(sc.Text(), -1) {
			last = m[1] + m[2] // one of the two groups is empty
		}
	}
	if last == "" {
		return 0, ErrPeerOutput
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(last, ",", ""), 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q: %w", ErrPeerOutput, last, err)
	}
	return v, nil
}

// runPeer runs cfg.PeerCmd and reads its figure. A failure is reported in
// the result, not as the run's error: baybus's own figures stand.
func runPeer(ctx context.Context, cfg Config, committedTPS float64) *PeerResult {
	res := &PeerResult{Cmd: cfg.PeerCmd}
	timeout := cfg.PeerTimeout
	if timeout <= 0 {
		timeout = DefaultPeerTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", cfg.PeerCmd)
	cmd.Env = append(os.Environ(),
		"BAYBUS_BENCH_DURATION="+strconv.FormatFloat(cfg.Duration.Seconds(), 'f', -1, 64),
		"BAYBUS_BENCH_SIZE="+strconv.Itoa(cfg.Size),
		"BAYBUS_BENCH_ORDERERS="+strconv.Itoa(cfg.Orderers),
		"BAYBUS_BENCH_CITIES="+strconv.Itoa(cfg.Cities))
	// The peer's command starts processes of its own (validators, a load
	// tool): at the timeout the whole process group is killed, and the
	// bench stops waiting for their output soon after.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	res.WallS = time.Since(start).Seconds()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 200 {
			msg = msg[len(msg)-200:]
		}
		res.Error = fmt.Sprintf("bench: peer command: %v: %s", err, msg)
		return res
	}
	if res.TPS, err = parsePeerTPS(out); err != nil {
		res.Error = err.Error()
		return res
	}
	if res.TPS > 0 {
		res.Ratio = committedTPS / res.TPS
	}
	return res
}
