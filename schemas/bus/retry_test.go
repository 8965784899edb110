package bus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestUnanswered(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"deadline", fmt.Errorf("publish: %w", context.DeadlineExceeded), true},
		{"no responders", nats.ErrNoResponders, true},
		{"no meta leader", &jetstream.APIError{Code: 503, ErrorCode: jsClusterNotAvail}, true},
		{"an earlier attempt in process", &jetstream.APIError{Code: 409, ErrorCode: jsDuplicateInProcess, Description: "duplicate message id is in process"}, true},
		{"no leader", ErrNoLeader, true},
		{"permission", &jetstream.APIError{Code: 403, ErrorCode: 10000}, false},
		{"stream not found", jetstream.ErrStreamNotFound, false},
		{"insufficient resources", &jetstream.APIError{Code: 503, ErrorCode: 10023}, false},
		{"other", errors.New("boom"), false},
	} {
		if got := Unanswered(tc.err); got != tc.want {
			t.Errorf("%s: Unanswered(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// A message whose earlier attempt is in process is tried again, and at the
// deadline the caller is told no leader committed it, not a refusal.
func TestRetryAnInProcessDuplicate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	attempts := 0
	err := Retry{Attempt: 50 * time.Millisecond, Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}.Do(ctx, "publish", func(context.Context) error {
		attempts++
		return &jetstream.APIError{Code: 409, ErrorCode: jsDuplicateInProcess, Description: "duplicate message id is in process"}
	})
	if !errors.Is(err, ErrNoLeader) || attempts < 2 {
		t.Fatalf("after %d attempts: %v, want ErrNoLeader after several", attempts, err)
	}
	attempts = 0
	err = Retry{}.Do(context.Background(), "publish", func(context.Context) error {
		attempts++
		if attempts == 1 {
			return &jetstream.APIError{Code: 409, ErrorCode: jsDuplicateInProcess}
		}
		return nil
	})
	if err != nil || attempts != 2 {
		t.Fatalf("%v after %d attempts, want success on the second", err, attempts)
	}
}
