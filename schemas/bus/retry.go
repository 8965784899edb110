package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoLeader: JetStream requests went unanswered, attempt after attempt,
// until the caller's deadline. In a cluster that is what a stream, a
// consumer or the meta group without a leader looks like (a server that
// is down, a quorum not formed yet): the request is sent, no server
// answers it, and a request that waits its whole deadline keeps waiting
// after a leader is elected, since nothing will ever answer it.
var ErrNoLeader = errors.New("bus: no JetStream leader answered")

// Defaults of Retry.
const (
	DefaultAttempt    = 2 * time.Second
	DefaultBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff = time.Second
)

// Retry runs a JetStream request with a short deadline per attempt and
// tries again, after a growing pause, while attempts go unanswered
// (Unanswered): a new leader is then used as soon as it is elected,
// instead of a single request waiting out the caller's whole deadline.
// Zero fields take the defaults above.
type Retry struct {
	// Attempt bounds one attempt; longer than a healthy cluster's answer
	// under load (milliseconds), shorter than a leader election.
	Attempt    time.Duration
	Backoff    time.Duration // pause after the first unanswered attempt; doubles each time
	MaxBackoff time.Duration // longest pause
	// Also, if set, names further errors worth another attempt, e.g.
	// Unavailable for a request a cluster without quorum refuses
	// ("insufficient resources" to place a consumer) rather than ignores.
	Also func(error) bool
}

// Do calls try, each time with a context bounded by Attempt, until it
// succeeds, fails with an error that is neither Unanswered nor one Also
// accepts (returned as is), or ctx ends. If ctx ends after attempts, the
// error wraps the last attempt's error, and ErrNoLeader if that one went
// unanswered; if it ends before any attempt, ctx's error.
func (r Retry) Do(ctx context.Context, what string, try func(context.Context) error) error {
	if r.Attempt <= 0 {
		r.Attempt = DefaultAttempt
	}
	if r.Backoff <= 0 {
		r.Backoff = DefaultBackoff
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = DefaultMaxBackoff
	}
	start := time.Now()
	pause := r.Backoff
	var last error
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			if last == nil {
				return fmt.Errorf("bus: %s: %w", what, err)
			}
			took := time.Since(start).Round(time.Millisecond)
			if !Unanswered(last) {
				return fmt.Errorf("bus: %s: %d attempts in %s, the last: %w", what, n-1, took, last)
			}
			return fmt.Errorf("%w: %s: %d attempts in %s, the last: %w", ErrNoLeader, what, n-1, took, last)
		}
		actx, cancel := context.WithTimeout(ctx, r.Attempt)
		err := try(actx)
		cancel()
		if err == nil {
			return nil
		}
		if !Unanswered(err) && (r.Also == nil || !r.Also(err)) {
			return err
		}
		last = err
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		pause = min(2*pause, r.MaxBackoff)
	}
}

// Unanswered reports whether err is a JetStream request that no leader
// answered: a deadline or time-out, a connection reconnecting to another
// server, no responders (no server of the stream's cluster reachable, or
// JetStream not up yet), "JetStream system temporarily unavailable" (what
// a server without a meta leader answers), "duplicate message id is in
// process" (an earlier attempt of the same message was proposed but not
// yet committed: no quorum has stored it, or refused it, yet), or
// ErrNoLeader. Errors a leader answered with (a permission refused, a
// stream that does not exist, a bad configuration, insufficient
// resources) are not.
func Unanswered(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, ErrNoLeader) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		(errors.As(err, &apiErr) && (apiErr.ErrorCode == jsClusterNotAvail || apiErr.ErrorCode == jsDuplicateInProcess))
}

// jsClusterNotAvail is nats-server's JSClusterNotAvailErr, "JetStream
// system temporarily unavailable".
const jsClusterNotAvail jetstream.ErrorCode = 10008

// jsDuplicateInProcess is nats-server's JSStreamDuplicateMessageConflict
// (409), "duplicate message id is in process".
const jsDuplicateInProcess jetstream.ErrorCode = 10158

// Unavailable reports whether err is the JetStream API answering 503: the
// cluster cannot serve the request now (no quorum to place a consumer,
// no leader, storage exhausted). Worth retrying for what must succeed
// eventually, as an orderer's consumer (Retry.Also).
func Unavailable(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 503
}
