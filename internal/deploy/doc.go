// Package deploy runs the multi-process deployment on one host, as a
// consortium runs it across hosts (docs/deployment.md): a NATS supercluster
// of three regional clusters (Guangdong, Hong Kong, Macao) joined by NATS
// gateways, the orderers each in its region, and one city gateway process
// per region, every process started from the baybus binary (`baybus nats`,
// `baybus orderer`, `baybus gateway`) with only its own credentials.
// `baybus cluster` (and scripts/cluster) is flags around it; the
// end-to-end test drives it directly.
//
// The state directory holds everything, laid out as `baybus up`'s data
// directory where the two meet, so the tools that read a stopped node's
// data (verify-chain, proof, licenses, reconcile --data) and the
// consortium commands (keys add-reader, keys cert) take it as it is:
//
//	trust.json, keys/, nats/, tls/  the whole consortium (schemas/consortium): the
//	                                administrator's copy; operator and service use it
//	clients/<city>.token            each city's development token (publish, read),
//	                                valid at its region's gateway
//	plan.json                       every process: command line, addresses, health URL
//	bin/baybus                      the binary every process runs
//	hosts/<process>/                what that process's host holds: trust.json and its
//	                                own keys and NATS seed; a gateway also its cities'
//	                                token file (clients/tokens.json) and the CA certificate
//	servers/<server>/nats.conf      each NATS server's configuration (public keys only)
//	servers/<server>/jetstream/     its JetStream store
//	orderers/<name>/                an orderer's data: block log, WAL, state, index
//	gateways/<region>/              a gateway's outbox of unsealed batches
//	wan/wan.json                    toxiproxy's proxies and toxics (--wan)
//	logs/<process>.log, run/<process>.pid
//
// # Contract
//
// Up checks every port of the plan before it writes anything (a
// *PortError names the process and its port), creates the consortium on
// first use and reuses it after, starts the processes kind by kind (WAN,
// NATS servers, then the streams and every orderer's consumer as the
// operator, orderers, gateways) and returns once each answers its health
// URL with 200. A process that exits before it is ready is started again,
// StartAttempts times in all, as a service manager would; if anything
// still fails, Up stops what it started. It refuses a state directory whose processes
// still run (ErrRunning). Down stops every process (SIGTERM, then SIGKILL
// after StopGrace) and keeps the state, so Up starts the same deployment
// again. Start, Stop and Kill act on one process; Kill is SIGKILL, as a
// crash.
//
// A process is known by its pid file and its start time in /proc, so a
// recycled pid is never signalled (Linux only). Processes run detached in
// sessions of their own and outlive the command that started them, unless
// Options.DieWithParent asks the kernel to kill them with it (tests).
//
// # Goroutines
//
// A Deployment reaps each process it started with one goroutine, which
// ends when the process does. Status asks every process at once, one
// goroutine each, and returns when all have answered (2 s each at most).
// RunWAN serves toxiproxy's API and proxies on toxiproxy's goroutines
// until its context ends.
package deploy
