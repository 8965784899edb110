package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/baybus/baybus/schemas/keys"
)

// A process is known by its pid file, DIR/run/<name>.pid: the pid and the
// process's start time in clock ticks since boot (field 22 of
// /proc/<pid>/stat), so a pid the kernel has given to another process
// since is never signalled.

type pidRecord struct {
	PID   int
	Start uint64
}

// procStart returns the start time of pid and whether it is a live
// process (not a zombie).
func procStart(pid int) (uint64, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	return parseStat(raw)
}

// parseStat reads the state and start time from the contents of
// /proc/<pid>/stat; false for a zombie, a dead process or anything it
// cannot read.
func parseStat(raw []byte) (uint64, bool) {
	// The command name (field 2) is in parentheses and may hold spaces
	// and parentheses: the fields after it start after the last ')'.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 20 {
		return 0, false
	}
	if f[0] == "Z" || f[0] == "X" { // state: a zombie or dead
		return 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64) // field 22
	if err != nil {
		return 0, false
	}
	return start, true
}

func readPID(path string) (pidRecord, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return pidRecord{}, err
	}
	r, err := parsePID(raw)
	if err != nil {
		return pidRecord{}, fmt.Errorf("deploy: pid file %s: %w", path, err)
	}
	return r, nil
}

// ErrPIDFile is wrapped by the error for a pid file that is not "<pid>
// <start time>".
var ErrPIDFile = errors.New("deploy: bad pid file")

// parsePID reads a pid file: the pid and the start time, separated by
// white space.
func parsePID(raw []byte) (pidRecord, error) {
	f := strings.Fields(string(raw))
	if len(f) != 2 {
		return pidRecord{}, fmt.Errorf("%w: want \"<pid> <start time>\"", ErrPIDFile)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return pidRecord{}, fmt.Errorf("%w: pid %q", ErrPIDFile, f[0])
	}
	start, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return pidRecord{}, fmt.Errorf("%w: start time %q", ErrPIDFile, f[1])
	}
	return pidRecord{PID: pid, Start: start}, nil
}

// running returns the pid of the process called name if it runs.
func (d *Deployment) running(name string) (int, bool) {
	r, err := readPID(d.Plan.pidPath(name))
	if err != nil {
		return 0, false
	}
	start, ok := procStart(r.PID)
	if !ok || start != r.Start {
		return 0, false
	}
	return r.PID, true
}

// spawn starts one process of the plan, detached in a session of its own
// (it outlives the command that started it, and a terminal's Ctrl-C does
// not reach it), its output appended to DIR/logs/<name>.log.
func (d *Deployment) spawn(pr *Proc) error {
	if pid, ok := d.running(pr.Name); ok {
		return fmt.Errorf("deploy: %s already runs (pid %d)", pr.Name, pid)
	}
	p := d.Plan
	for _, dir := range []string{filepath.Dir(p.logPath(pr.Name)), filepath.Dir(p.pidPath(pr.Name))} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
	}
	out, err := os.OpenFile(p.logPath(pr.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	defer out.Close() // the child has its own descriptor
	fmt.Fprintf(out, "=== %s: %s %s\n", d.now().Format(time.RFC3339Nano), p.Binary, strings.Join(pr.Args, " "))
	cmd := exec.Command(p.Binary, pr.Args...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = p.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if d.dieWithParent {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("deploy: start %s: %w", pr.Name, err)
	}
	start, ok := procStart(cmd.Process.Pid)
	if !ok {
		// It exited already; reap it and say so.
		err := cmd.Wait()
		return fmt.Errorf("deploy: %s exited at once (%v); see %s", pr.Name, err, p.logPath(pr.Name))
	}
	rec := fmt.Sprintf("%d %d\n", cmd.Process.Pid, start)
	if err := keys.WriteFileAtomic(p.pidPath(pr.Name), []byte(rec), 0o644); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("deploy: %w", err)
	}
	// Reap it when it ends, for as long as this process lives; after
	// that, init does.
	done := make(chan struct{})
	d.mu.Lock()
	d.exited[pr.Name] = done
	d.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return nil
}

// signal sends sig to the process called name; false if it does not run.
func (d *Deployment) signal(name string, sig syscall.Signal) (bool, error) {
	pid, ok := d.running(name)
	if !ok {
		return false, nil
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return true, fmt.Errorf("deploy: signal %s (pid %d): %w", name, pid, err)
	}
	return true, nil
}

// waitGone waits until the process called name no longer runs, up to
// timeout; false if it still does.
func (d *Deployment) waitGone(name string, timeout time.Duration) bool {
	d.mu.Lock()
	done := d.exited[name]
	d.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		if done != nil {
			select {
			case <-done:
				return true
			default:
			}
		}
		if _, ok := d.running(name); !ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
