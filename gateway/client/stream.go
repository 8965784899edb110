package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/baybus/baybus/gateway/api"
)

// StreamOptions configure PublishStream.
type StreamOptions struct {
	Options
	// Layout of the input; default api.Auto (a JSON object, a JSON array,
	// or JSONL).
	Layout api.Layout
	// Chunk is how many events go in one request; default 1000 (the
	// gateway takes up to 10,000).
	Chunk int
	// MaxEventBytes bounds one event; default api.DefaultMaxEventBytes, the
	// gateway's own bound.
	MaxEventBytes int
}

// Summary counts what PublishStream did.
type Summary struct {
	Events   int // events read and answered (Accepted + Failed)
	Accepted int // with a receipt
	Failed   int // with an error, from the gateway or refused here (too large)
}

// PublishStream reads a city's events from r and publishes them in requests
// of Chunk events, holding one chunk at a time. It calls emit with each
// event's result in input order; Index counts from 0 over the whole input.
// An event over MaxEventBytes gets an error result (api.CodeTooLarge)
// without being sent.
//
// It stops at the first error that is not about one event (input that
// cannot be read or split, a request refused whole, emit's error) and
// returns it with what was done so far: the chunks before it were
// published, the chunk being read was not. Publishing the same input again
// is safe: the gateway answers a repeated event with its first receipt.
func (c *Client) PublishStream(ctx context.Context, city string, r io.Reader, opt StreamOptions, emit func(Result) error) (Summary, error) {
	if opt.Chunk <= 0 {
		opt.Chunk = 1000
	}
	rd := api.NewEventReader(r, opt.Layout, api.ReaderOptions{MaxEventBytes: opt.MaxEventBytes})
	var sum Summary
	type item struct {
		raw json.RawMessage
		err *api.Error // refused here
	}
	chunk := make([]item, 0, opt.Chunk)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		var send []json.RawMessage
		for _, it := range chunk {
			if it.err == nil {
				send = append(send, it.raw)
			}
		}
		var res []Result
		if len(send) > 0 {
			var err error
			if res, err = c.Publish(ctx, city, send, opt.Options); err != nil {
				return err
			}
		}
		for _, it := range chunk {
			r := Result{Index: sum.Events, Error: it.err}
			if it.err == nil {
				r.Receipt, r.Error = res[0].Receipt, res[0].Error
				res = res[1:]
			}
			if r.Error != nil {
				sum.Failed++
			} else {
				sum.Accepted++
			}
			sum.Events++
			if err := emit(r); err != nil {
				return err
			}
		}
		chunk = chunk[:0]
		return nil
	}
	for {
		raw, err := rd.Next()
		var ee *api.EventError
		switch {
		case err == nil:
			chunk = append(chunk, item{raw: raw})
		case errors.As(err, &ee):
			chunk = append(chunk, item{err: &api.Error{Status: http.StatusRequestEntityTooLarge, Code: api.CodeTooLarge,
				Message: fmt.Sprintf("event is %d bytes, limit %d (not sent)", ee.Size, ee.Limit)}})
		case err == io.EOF:
			return sum, flush()
		default:
			return sum, fmt.Errorf("client: input stopped after %d events (%d published): %w", rd.Count(), sum.Events, err)
		}
		if len(chunk) == opt.Chunk {
			if err := flush(); err != nil {
				return sum, err
			}
		}
	}
}
