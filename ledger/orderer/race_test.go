//go:build race

package orderer

// The race detector slows everything about tenfold: the tests' engine
// timeouts (fastEngine) and their waits for sealing, heights, acks and
// published headers stretch accordingly. The waits bound a stuck test;
// no test asserts how long anything took.
func init() { timeScale = 5 }
