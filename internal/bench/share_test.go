package bench

import (
	"context"
	"testing"
	"time"
)

// TestRunShareOpenLoop runs a short share bench whose cap on requests in
// flight is one: the loop stays open, so requests due while one is
// outstanding are not sent but counted, every request sent is answered
// and recorded on the ledger, and the reader's CPU is measured apart.
func TestRunShareOpenLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole system")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunShare(ctx, ShareConfig{Rate: 100, Duration: time.Second, Warmup: 200 * time.Millisecond,
		Licenses: 5, MaxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	sent := res.Answered + res.Failed
	if res.Unsent == 0 || res.MaxInFlight != 1 || res.Failed != 0 || res.Answered == 0 {
		t.Fatalf("result %+v: want requests not sent for the cap of 1, none failed", res)
	}
	// 120 due in 1.2 s; those of the warm-up are answered but not counted
	// in Answered, so sent+unsent is at most the due.
	if due := int64(120); sent+res.Unsent > due+1 || res.Unsent < due/2 {
		t.Fatalf("%d answered, %d unsent of %d due", res.Answered, res.Unsent, due)
	}
	if res.AccessRecords < res.Answered || res.ReaderCPUMsPerAnswer <= 0 || res.OpenedPerS <= 0 {
		t.Fatalf("result %+v", res)
	}
}
