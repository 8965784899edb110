// Package soak is the chaos soak of issue 13 §8: open-loop load against
// the multi-process deployment (internal/deploy, as `scripts/cluster`
// runs it) while processes are killed with SIGKILL at random, from a
// printed seed, and an invariant checker after every recovery.
//
// A run starts a deployment of its own (or takes a running one,
// Config.Cluster), sends events at a fixed rate through the city
// gateways whatever their answers (half wait for the commit, half do
// not) and keeps every receipt, and meanwhile, again and again: draws a
// fault kind (an orderer, the leader, a NATS server, a gateway, or every
// process at once), kills its victims, lets them stay down a moment,
// starts them again (servers, then orderers and gateways, as a host's
// service manager would), waits until every process is ready and every
// orderer holds the height sealed before the fault, and checks. When the
// time is up the load stops, the orderers are given Config.Drain to seal
// what was accepted, the deployment is stopped, and the last check reads
// the orderers' own logs.
//
// # Contract
//
// Each check runs verify-chain (ledger/audit: every record, the state
// rebuilt, the chains compared) on a copy of every orderer's block log,
// then Check: every transaction with a committed receipt is on every
// orderer's chain that reaches its height exactly once; no chain records
// a transaction twice; the chains agree, header and state root, at every
// height they share. The last check also requires every accepted receipt
// sealed on every chain. A fault the deployment does not recover from
// within Config.Recover is a violation too. Summary says what was injected
// and found; Summary.OK is false on any violation.
//
// Check is a pure function of receipts and chains, tested on its own
// with planted losses, duplicates and forks. The random choices (fault
// kinds, victims, downtimes, pauses, events) follow from Config.Seed; the
// timings of the processes do not, so a seed repeats a run's faults, not
// its interleavings.
//
// # Goroutines
//
// Run's goroutine injects the faults and owns the deployment's
// processes. One goroutine sends the load and starts one goroutine per
// request (at most Config.MaxInFlight); a monitor goroutine asks every
// process for its status twice a second (heights for the longest stall,
// /proc for peak RSS, the orderers' leader). They share the receipts and
// the summary under one mutex, and all end before Run returns.
package soak
