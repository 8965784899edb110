//go:build race

package orderer

// The race detector slows everything about tenfold: the tests' engine
// timeouts stretch accordingly (see fastEngine).
func init() { timeScale = 5 }
