package orderer

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"

	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/blocklog"
)

// Failing: an orderer that meets an error it cannot continue from (its
// block log or engine WAL cannot be written, the disk is full, a decided
// block is refused by its own state) stops by itself instead of taking its
// process down. Until then the engine could go on voting on a chain this
// orderer no longer holds; once failed, nothing it sends leaves it, the
// engine is stopped, its files are closed, and Done and Err tell whoever
// runs it (ledger/node's Keeper restarts it; the other orderers of `baybus
// up` never notice but for its silence).

// Errors of a failed orderer. Err wraps ErrFailed and the cause.
var (
	ErrFailed = errors.New("orderer: failed")
	// ErrDiskFull: the data directory's file system has less free space
	// than Config.MinFreeDisk (a *DiskFullError), or a write found it full.
	ErrDiskFull = errors.New("orderer: disk full")
)

// DiskFullError says how little space the data directory has left.
type DiskFullError struct {
	Dir       string
	Free, Min uint64 // bytes; Free is 0 when a write failed with ENOSPC
	Err       error  // the write that failed, if any
}

func (e *DiskFullError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("orderer: disk full under %s: %v", e.Dir, e.Err)
	}
	return fmt.Sprintf("orderer: disk full under %s: %d bytes free, at least %d needed to go on sealing", e.Dir, e.Free, e.Min)
}

// Is reports whether target is ErrDiskFull.
func (e *DiskFullError) Is(target error) bool { return target == ErrDiskFull }

func (e *DiskFullError) Unwrap() error { return e.Err }

// noSpace turns a write error that ran out of space into a *DiskFullError.
func (n *Node) noSpace(err error) error {
	if err != nil && errors.Is(err, syscall.ENOSPC) && !errors.Is(err, ErrDiskFull) {
		return &DiskFullError{Dir: n.cfg.DataDir, Min: n.cfg.MinFreeDisk, Err: err}
	}
	return err
}

// checkDisk returns a *DiskFullError if the data directory's file system
// has less than MinFreeDisk free.
func (n *Node) checkDisk() error {
	if n.cfg.MinFreeDisk == 0 {
		return nil
	}
	free, err := n.cfg.FreeDisk(n.cfg.DataDir)
	if err != nil {
		return nil // an unknown amount of space is not a reason to stop
	}
	if free < n.cfg.MinFreeDisk {
		return &DiskFullError{Dir: n.cfg.DataDir, Free: free, Min: n.cfg.MinFreeDisk}
	}
	return nil
}

// FreeDisk is the default Config.FreeDisk: the bytes an unprivileged
// process may still write on dir's file system (statfs).
func FreeDisk(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// fail records err as the reason this orderer cannot go on and stops it
// in the background. Only the first failure counts.
func (n *Node) fail(err error) {
	err = n.noSpace(err)
	if !n.failed.CompareAndSwap(nil, &failure{err: fmt.Errorf("%w: %w", ErrFailed, err)}) {
		return
	}
	n.log.Error("orderer failed: stopping it", "err", err, "height", n.store.Height())
	go n.Stop()
}

type failure struct{ err error }

// Err returns why the orderer stopped by itself (an error wrapping
// ErrFailed and its cause, e.g. ErrDiskFull or wal.ErrCorrupt), or nil.
func (n *Node) Err() error {
	if f := n.failed.Load(); f != nil {
		return f.err
	}
	return nil
}

// Done is closed once the orderer has stopped, by Stop or by a failure
// (then Err says why).
func (n *Node) Done() <-chan struct{} { return n.done }

// watchDisk fails the orderer once its disk is short of MinFreeDisk, so
// that it stops before any store (the block log, or pebble under the index
// and the state, which cannot survive a full disk) meets a full one.
func (n *Node) watchDisk() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.DiskCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if err := n.checkDisk(); err != nil {
			n.fail(err)
			return
		}
	}
}

// failSafeLog is the engine WAL's log: a write that fails fails the
// orderer instead of reaching the engine, which would panic. The append
// waits for the orderer to stop and then returns nil: the engine may think
// the entry persisted, but nothing it sends afterwards leaves (failComm),
// so no vote goes out that the WAL does not hold.
type failSafeLog struct {
	bft.Log
	n *Node
}

func (l failSafeLog) Append(data ...[]byte) (uint64, error) {
	if l.n.failed.Load() != nil {
		<-l.n.ctx.Done()
		return l.Log.LastIndex() + 1, nil
	}
	idx, err := l.Log.Append(data...)
	if err != nil {
		l.n.fail(fmt.Errorf("orderer: engine WAL: %w", err))
		<-l.n.ctx.Done()
		return l.Log.LastIndex() + 1, nil
	}
	return idx, nil
}

func (l failSafeLog) TruncateFront(index uint64) error {
	if err := l.Log.TruncateFront(index); err != nil {
		l.n.fail(fmt.Errorf("orderer: engine WAL: %w", err))
	}
	return nil // the engine treats it as done; restore reads only the newest entries
}

// failComm drops everything the engine sends once the orderer failed.
type failComm struct {
	bft.Comm
	n *Node
}

func (c failComm) SendConsensus(target uint64, m *protos.Message) {
	if c.n.failed.Load() == nil {
		c.Comm.SendConsensus(target, m)
	}
}

func (c failComm) SendTransaction(target uint64, req []byte) {
	if c.n.failed.Load() == nil {
		c.Comm.SendTransaction(target, req)
	}
}

// appendBlock writes a block to the block log, unless the disk is short of
// space: then nothing is written and the error is a *DiskFullError.
func (n *Node) appendBlock(rec *blocklog.Record) error {
	if err := n.checkDisk(); err != nil {
		return err
	}
	return n.noSpace(n.appendFn(rec))
}
