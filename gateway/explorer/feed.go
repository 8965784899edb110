package explorer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/baybus/baybus/gateway/api"
)

// MaxCatchUp bounds the blocks a follower that resumes (Last-Event-ID or
// ?from=) is sent before the live ones: older blocks are for RouteBlocks.
const MaxCatchUp = 1000

// keepAlive is how often a quiet stream gets a comment line, so proxies
// and the browser keep it open.
const keepAlive = 15 * time.Second

// feed polls the orderers for new blocks while someone follows, and hands
// each new block to every follower.
//
// Concurrency: mu guards followers, running and head; the poller goroutine
// (at most one) is started by join and ends when the last follower left
// or on close. A follower's channel is closed by the feed only (when it is
// cut off or the feed closes).
type feed struct {
	x *Explorer

	mu        sync.Mutex
	followers map[*follower]struct{}
	running   bool
	closed    bool
	head      uint64 // the last height handed out; 0: read the chain's at start

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type follower struct {
	ch chan api.BlockSummary
}

func newFeed(x *Explorer) *feed {
	f := &feed{x: x, followers: map[*follower]struct{}{}}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	return f
}

// join adds a follower and starts the poller if it is not running; nil
// once the feed is closed.
func (f *feed) join() *follower {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	fl := &follower{ch: make(chan api.BlockSummary, f.x.cfg.FollowerBuffer)}
	f.followers[fl] = struct{}{}
	if !f.running {
		f.running, f.head = true, 0
		f.wg.Add(1)
		go f.poll()
	}
	return fl
}

func (f *feed) leave(fl *follower) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.followers[fl]; ok {
		delete(f.followers, fl)
		close(fl.ch)
	}
}

func (f *feed) close() {
	f.mu.Lock()
	f.closed = true
	for fl := range f.followers {
		delete(f.followers, fl)
		close(fl.ch)
	}
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
}

// poll asks for the blocks after head every PollEvery, until no one
// follows.
func (f *feed) poll() {
	defer f.wg.Done()
	t := time.NewTicker(f.x.cfg.PollEvery)
	defer t.Stop()
	for {
		f.mu.Lock()
		if len(f.followers) == 0 || f.closed {
			f.running = false
			f.mu.Unlock()
			return
		}
		head := f.head
		f.mu.Unlock()
		ctx, cancel := context.WithTimeout(f.ctx, f.x.cfg.Timeout)
		if head == 0 {
			head = f.x.height(ctx) // new followers see what comes next
			f.mu.Lock()
			f.head = head
			f.mu.Unlock()
		} else if hs, err := f.x.cfg.Chain.Headers(ctx, head+1, MaxBlocks); err == nil {
			for _, sh := range hs {
				f.broadcast(summary(sh.Header, sh.QC))
			}
		} else if !isNotFound(err) && f.ctx.Err() == nil {
			f.x.log.Debug("block feed", "err", err)
		}
		cancel()
		select {
		case <-t.C:
		case <-f.ctx.Done():
		}
	}
}

// broadcast hands s to every follower; one whose buffer is full is cut off.
func (f *feed) broadcast(s api.BlockSummary) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.Height <= f.head {
		return
	}
	f.head = s.Height
	for fl := range f.followers {
		select {
		case fl.ch <- s:
		default:
			delete(f.followers, fl)
			close(fl.ch)
		}
	}
}

// handleEvents serves GET RouteBlockEvents: event "block" per new block,
// its height as the event id. With Last-Event-ID (the last height seen) or
// ?from=H, the blocks from there on come first (MaxCatchUp at most).
func (x *Explorer) handleEvents(w http.ResponseWriter, r *http.Request) {
	if _, ok := x.authenticate(w, r); !ok {
		return
	}
	from, e := uintParam(r.URL.Query(), api.ParamFrom, 0, 1, 1<<62)
	if e != nil {
		writeError(w, e)
		return
	}
	if id := strings.TrimSpace(r.Header.Get("Last-Event-ID")); id != "" {
		last, err := strconv.ParseUint(id, 10, 64)
		if err != nil || last >= 1<<62 {
			writeError(w, badParam("Last-Event-ID", "Last-Event-ID %q: want the height of the last block seen", id))
			return
		}
		from = last + 1
	}
	rc := http.NewResponseController(w)
	fl := x.feed.join()
	if fl == nil {
		writeError(w, &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeShuttingDown, Message: "the gateway is shutting down"})
		return
	}
	defer x.feed.leave(fl)
	// A stream outlives the server's write timeout.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", api.MediaEventStream)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": baybus blocks\nretry: 2000\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	var sent uint64
	if from > 0 {
		sent = from - 1
		if !x.catchUp(r.Context(), w, rc, &sent) {
			return
		}
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case s, ok := <-fl.ch:
			if !ok {
				return // cut off (too slow) or shutting down: the client resumes
			}
			if s.Height <= sent && sent > 0 {
				continue
			}
			if writeEvent(w, s) != nil || rc.Flush() != nil {
				return
			}
			sent = s.Height
		}
	}
}

// catchUp sends the blocks after *sent that the chain holds now, at most
// MaxCatchUp of them (the newest).
func (x *Explorer) catchUp(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, sent *uint64) bool {
	cctx, cancel := context.WithTimeout(ctx, x.cfg.Timeout)
	defer cancel()
	if top := x.height(cctx); top > *sent+MaxCatchUp {
		*sent = top - MaxCatchUp
	}
	for {
		hs, err := x.cfg.Chain.Headers(cctx, *sent+1, MaxBlocks)
		if err != nil || len(hs) == 0 {
			return ctx.Err() == nil
		}
		for _, sh := range hs {
			if writeEvent(w, summary(sh.Header, sh.QC)) != nil {
				return false
			}
			*sent = sh.Header.Height
		}
		if rc.Flush() != nil {
			return false
		}
	}
}

func writeEvent(w http.ResponseWriter, s api.BlockSummary) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: block\ndata: %s\n\n", s.Height, data)
	return err
}
