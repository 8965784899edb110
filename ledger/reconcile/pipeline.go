package reconcile

import (
	"context"
	"sync"
)

// ordered runs work on every item produce emits, on n goroutines, and
// hands the results to sink one at a time in the order the items were
// emitted. At most about 2n items are in flight, so memory is bounded
// whatever the input's length. The first error (from produce, sink, or the
// context) stops everything and is returned.
//
// Goroutines: produce runs on its own goroutine, work on the n workers,
// sink on the caller's. Only sink may touch the caller's state.
func ordered[In, Out any](parent context.Context, n int, produce func(ctx context.Context, emit func(In) error) error, work func(In) Out, sink func(Out) error) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	type slot struct {
		in  In
		out chan Out
	}
	jobs := make(chan *slot, n)
	queue := make(chan *slot, 2*n)
	var produceErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(queue)
		defer close(jobs)
		produceErr = produce(ctx, func(x In) error {
			s := &slot{in: x, out: make(chan Out, 1)}
			select {
			case queue <- s:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			select {
			case jobs <- s:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			return nil
		})
	}()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				s.out <- work(s.in)
			}
		}()
	}
	var sinkErr error
	for s := range queue {
		var out Out
		select {
		case out = <-s.out:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if err := sink(out); err != nil {
			sinkErr = err
			cancel(err)
			break
		}
	}
	cancel(nil)
	// Drain so that produce and the workers can finish.
	for range queue {
	}
	wg.Wait()
	switch {
	case sinkErr != nil:
		return sinkErr
	case parent.Err() != nil:
		return context.Cause(parent)
	}
	return produceErr
}
