//go:build race

package reconcile

// The race detector slows streaming a cell twenty-fold: a 32 MiB cell is
// still far beyond what a row may hold.
func init() { hugeCellBytes = 32 << 20 }
