package system

import (
	"context"
	"runtime/pprof"
)

// Profile labels. Every goroutine the system starts carries the label
// RoleLabel naming what it works for, so a CPU profile of `up` or of
// `baybus bench` can be summed by role: a goroutine inherits its
// creator's labels, so labelling the goroutine that starts a component
// labels everything the component starts after it. JetStream's own stream
// and consumer goroutines set labels of their own ("account", "stream",
// "consumer"), which replace these: a reader counts them as the bus.
const (
	RoleLabel    = "baybus.role"
	RoleBus      = "bus"      // nats-server and both ends of every in-process connection
	RoleGateways = "gateways" // the HTTP gateways, their batchers and their ledger (query) client
	// RoleOrdererPrefix + an orderer's name: all of that orderer's
	// goroutines (ingestion, consensus, commit, proofs, query service).
	RoleOrdererPrefix = "orderer/"
)

// asRole runs f on a new goroutine labelled role and waits for it, so
// every goroutine f starts carries the label while the caller's own labels
// stay as they were (pprof.Do would leave the caller with its context's
// labels, and a goroutine's labels cannot be read back to restore them).
func asRole(role string, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels(RoleLabel, role)))
		f()
	}()
	<-done
}
