package blocksync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/internal/natsserver/natstest"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// TestReplyQueueBounds: a request's unread reply is bounded as the
// per-request subscription's pending limits bounded it; past them the
// request fails as a slow consumer, holding nothing. A message for a
// request that is over, or for no request, is dropped.
func TestReplyQueueBounds(t *testing.T) {
	cons := blocklogtest.Consortium(t)
	ids, err := bus.NewIdentities(schemas.CityTokens(), cons.Bundle.Orderers)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := natstest.Start(t, ids, natstest.Options{}).Connect(bus.IdentityName(bus.RoleService, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c, err := NewClient(ClientConfig{Conn: nc, Trust: cons.Bundle})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name       string
		msgs, size int
	}{
		{"too many messages", maxPendingMsgs + 1, 1},
		{"too many bytes", maxPendingBytes/(1<<20) + 1, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token, reply, q, err := c.open()
			if err != nil {
				t.Fatal(err)
			}
			data := make([]byte, tc.size)
			for range tc.msgs - 1 {
				c.route(c.prefix, &nats.Msg{Subject: reply, Data: data})
			}
			if m, err := c.next(ctx, q); err != nil || len(m.Data) != tc.size {
				t.Fatalf("within the bounds: %v", err)
			}
			c.route(c.prefix, &nats.Msg{Subject: reply, Data: data})
			c.route(c.prefix, &nats.Msg{Subject: reply, Data: data})
			if _, err := c.next(ctx, q); !errors.Is(err, nats.ErrSlowConsumer) {
				t.Fatalf("past the bounds: %v", err)
			}
			if q.msgs != nil || q.bytes != 0 {
				t.Fatalf("a failed request holds %d messages, %d bytes", len(q.msgs), q.bytes)
			}
			c.done(token)
			c.route(c.prefix, &nats.Msg{Subject: reply, Data: data})
			c.route(c.prefix, &nats.Msg{Subject: c.prefix + "nobody", Data: data})
			c.route(c.prefix, &nats.Msg{Subject: "elsewhere", Data: data})
			if len(c.waiting) != 0 {
				t.Fatalf("%d requests still registered", len(c.waiting))
			}
		})
	}
}
