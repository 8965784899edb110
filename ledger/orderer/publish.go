package orderer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas/bus"
)

// publish runs until the node stops, publishing every block above the
// height it started at (unless older than Config.PublishMaxAge).
func (n *Node) publish() {
	defer n.wg.Done()
	js, err := jetstream.New(n.cfg.Conn)
	if err != nil {
		n.log.Error("publish: jetstream", "err", err)
		return
	}
	done := n.store.Height()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.pubWake:
		}
		for done < n.store.Height() && n.ctx.Err() == nil {
			h := done + 1
			rec, err := n.store.Record(h)
			if err != nil {
				n.log.Error("publish: read block", "height", h, "err", err)
				break
			}
			if age := n.clock.Now().Sub(time.Unix(0, rec.Header.Timestamp)); age > n.cfg.PublishMaxAge {
				done = h
				continue
			}
			hash := rec.Header.Hash()
			m := nats.NewMsg(bus.SubjectBlocks)
			m.Data = block.EncodeSealed(&rec.Header, &rec.QC)
			m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s/%d/%s", n.cfg.Trust.Chain, h, hex.EncodeToString(hash[:])))
			m.Header.Set("Baybus-Height", strconv.FormatUint(h, 10))
			m.Header.Set("Baybus-Hash", hex.EncodeToString(hash[:]))
			ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
			_, err = js.PublishMsg(ctx, m)
			cancel()
			if err != nil && !publishedByAnother(err) {
				if n.ctx.Err() == nil {
					n.log.Warn("publish: gba.blocks", "height", h, "err", err)
				}
				break // retry on the next wake-up
			}
			done = h
		}
	}
}

// errCodeDupInProcess is JetStream's "duplicate message id is in process":
// on a clustered stream, another orderer's publish of the same header (same
// Nats-Msg-Id) is being stored right now.
const errCodeDupInProcess jetstream.ErrorCode = 10158

// publishedByAnother reports a publish that failed only because another
// orderer is storing the same header: it will be stored, so it is done.
func publishedByAnother(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.ErrorCode == errCodeDupInProcess
}
