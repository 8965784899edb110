package bus

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrPermission is returned when the server refuses a publish for the
// identity's permissions.
var ErrPermission = errors.New("bus: permission denied")

// Publisher publishes to JetStream and waits for the stream's
// acknowledgement. The server reports a publish refused by subject
// permissions only as an asynchronous error on the connection, while the
// publish itself would wait for its time-out; Publisher watches the
// connection's errors and fails the waiting publishes on that subject at
// once with ErrPermission.
//
// Publisher installs itself as the connection's async error handler (the
// previous handler is still called). It is safe for concurrent use.
type Publisher struct {
	js jetstream.JetStream

	mu      sync.Mutex
	waiters map[string]map[chan error]struct{} // subject -> publishes in flight
}

var deniedRe = regexp.MustCompile(`Permissions Violation for Publish to "([^"]+)"`)

// NewPublisher wraps nc.
func NewPublisher(nc *nats.Conn) (*Publisher, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	p := &Publisher{js: js, waiters: map[string]map[chan error]struct{}{}}
	prev := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, s *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			if m := deniedRe.FindStringSubmatch(err.Error()); m != nil {
				p.deny(m[1], err)
			}
		}
		if prev != nil {
			prev(c, s, err)
		}
	})
	return p, nil
}

// JetStream returns the JetStream context the publisher uses.
func (p *Publisher) JetStream() jetstream.JetStream { return p.js }

func (p *Publisher) deny(subject string, cause error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ch := range p.waiters[subject] {
		select {
		case ch <- fmt.Errorf("%w: publish to %q refused by the server (%v)", ErrPermission, subject, cause):
		default:
		}
	}
}

func (p *Publisher) watch(subject string) (chan error, func()) {
	ch := make(chan error, 1)
	p.mu.Lock()
	if p.waiters[subject] == nil {
		p.waiters[subject] = map[chan error]struct{}{}
	}
	p.waiters[subject][ch] = struct{}{}
	p.mu.Unlock()
	return ch, func() {
		p.mu.Lock()
		delete(p.waiters[subject], ch)
		if len(p.waiters[subject]) == 0 {
			delete(p.waiters, subject)
		}
		p.mu.Unlock()
	}
}

// Publish stores data on subject with msgID as Nats-Msg-Id and returns the
// stream's acknowledgement (with Duplicate set if the stream already had
// the id). A refused publish fails with ErrPermission as soon as the server
// says so.
func (p *Publisher) Publish(ctx context.Context, subject, msgID string, data []byte) (*jetstream.PubAck, error) {
	denied, done := p.watch(subject)
	defer done()
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if msgID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	fut, err := p.js.PublishMsgAsync(msg)
	if err != nil {
		return nil, fmt.Errorf("bus: publish %s: %w", subject, err)
	}
	select {
	case ack := <-fut.Ok():
		return ack, nil
	case err := <-fut.Err():
		return nil, fmt.Errorf("bus: publish %s: %w", subject, err)
	case err := <-denied:
		return nil, err
	case <-ctx.Done():
		return nil, fmt.Errorf("bus: publish %s: %w", subject, ctx.Err())
	}
}
