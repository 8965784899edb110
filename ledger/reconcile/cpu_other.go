//go:build !unix

package reconcile

import "time"

// cpuTime is unknown here.
func cpuTime() time.Duration { return 0 }
