package server

import (
	"container/list"
	"net"
	"net/http"
	"sync"
)

// capListener bounds the connections the HTTP server holds open at max.
// At the cap, a new connection takes the place of the connection idle the
// longest (a client's keep-alive between requests), which is closed; only
// when none is idle does it wait for one to close or fall idle. A plain
// limit (netutil.LimitListener) let a crowd of clients' idle keep-alives
// hold every slot until IdleTimeout while new connections waited in the
// kernel's queue: starved, though the gateway was doing nothing.
//
// Closing an idle connection is what IdleTimeout does anyway, and HTTP
// clients retry on a kept-alive connection the server closed. The server
// reports each connection's state through Track (http.Server.ConnState),
// which is how the listener knows which are idle.
//
// Concurrency: Accept runs on the server's accept goroutine; Track on the
// connections' goroutines; Close of a connection on any. mu guards open
// and idle; changed (capacity 1) wakes an Accept that waits.
type capListener struct {
	net.Listener
	max int

	mu      sync.Mutex
	open    int        // connections handed to the server, not yet closed
	idle    *list.List // of *capConn, oldest idle first
	changed chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newCapListener(l net.Listener, max int) *capListener {
	return &capListener{Listener: l, max: max, idle: list.New(), changed: make(chan struct{}, 1), done: make(chan struct{})}
}

// capConn is a connection the listener counts.
type capConn struct {
	net.Conn
	l     *capListener
	elem  *list.Element // in l.idle while idle; guarded by l.mu
	once  sync.Once
	freed bool // guarded by l.mu
}

func (c *capConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.release(c)
		c.l.mu.Unlock()
		c.l.signal()
	})
	return c.Conn.Close()
}

// release takes c out of the count; l.mu held.
func (l *capListener) release(c *capConn) {
	if c.freed {
		return
	}
	c.freed = true
	l.open--
	if c.elem != nil {
		l.idle.Remove(c.elem)
		c.elem = nil
	}
}

func (l *capListener) signal() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// Accept accepts the next connection, then makes room for it: a free
// slot, or the slot of the connection idle the longest, or else it waits.
// While it waits the new connection is held, not served (as it would wait
// in the kernel's queue).
func (l *capListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		l.mu.Lock()
		if l.open < l.max {
			l.open++
			l.mu.Unlock()
			return &capConn{Conn: c, l: l}, nil
		}
		var victim *capConn
		if front := l.idle.Front(); front != nil {
			victim = front.Value.(*capConn)
			l.idle.Remove(front)
			victim.elem = nil
		}
		l.mu.Unlock()
		if victim != nil {
			_ = victim.Close() // frees its slot; its server goroutine sees the close and ends
			continue
		}
		select {
		case <-l.changed:
		case <-l.done:
			_ = c.Close()
			return nil, net.ErrClosed
		}
	}
}

// Close stops Accept, including one waiting for room.
func (l *capListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Track is the http.Server's ConnState: it keeps the list of idle
// connections, oldest first.
func (l *capListener) Track(nc net.Conn, state http.ConnState) {
	c := unwrapCap(nc)
	if c == nil {
		return
	}
	l.mu.Lock()
	switch state {
	case http.StateIdle:
		if !c.freed && c.elem == nil {
			c.elem = l.idle.PushBack(c)
		}
	default:
		if c.elem != nil {
			l.idle.Remove(c.elem)
			c.elem = nil
		}
	}
	l.mu.Unlock()
	if state == http.StateIdle || state == http.StateClosed {
		l.signal()
	}
}

// idleConns is how many connections the server has reported idle and the
// listener would give up for room.
func (l *capListener) idleConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle.Len()
}

// unwrapCap finds the capConn under a connection the server reports: the
// conn itself, or the one under a *tls.Conn.
func unwrapCap(nc net.Conn) *capConn {
	for nc != nil {
		if c, ok := nc.(*capConn); ok {
			return c
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		nc = u.NetConn()
	}
	return nil
}
