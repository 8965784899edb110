package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baybus/baybus/gateway/server"
)

// TestIdleKeepAlivesDoNotStarveNewConnections: with the default cap of
// 1,024 connections all held by clients' idle keep-alives, a new client's
// request is still answered (the connection idle the longest gives way),
// and the client whose connection was closed is served again on its next
// request. Connections in the middle of a request are never closed for
// room: TestSlowBodiesAndConnectionsAreBounded waits behind those.
func TestIdleKeepAlivesDoNotStarveNewConnections(t *testing.T) {
	d := newDeployment(t)
	cfg := d.config("shenzhen")
	cfg.Auth.Unauthenticated = true
	cfg.Ledger.Disabled = true
	s := start(t, cfg)
	const n = 1024 // the default cap (server.HTTPConfig.MaxConns)

	// n clients, each with one kept-alive connection, made idle by one
	// request each, one after another: client 0's is idle the longest.
	// A client has its answer before the server marks the connection
	// idle (net/http reports StateIdle after the response is written), so
	// under load client i+1's connection could fall idle first: each
	// client waits until the server counts its connection idle.
	clients := make([]*http.Client, n)
	ended := make([]*atomic.Bool, n)
	for i := range n {
		ended[i] = new(atomic.Bool)
		tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, IdleConnTimeout: time.Minute,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &watchedConn{Conn: c, ended: ended[i]}, nil
			}}
		t.Cleanup(tr.CloseIdleConnections)
		clients[i] = &http.Client{Timeout: 30 * time.Second, Transport: tr}
		if err := getOK(clients[i], s.URL()+"/healthz"); err != nil {
			t.Fatalf("client %d filling the cap: %v", i, err)
		}
		waitIdle(t, s, i+1)
	}

	// A new client: answered, though every slot is held.
	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if err := getOK(fresh, s.URL()+"/healthz"); err != nil {
		t.Fatalf("a new connection with %d idle keep-alives open: %v", n, err)
	}
	// Client 0's connection gave way, and no other; client 0 is served
	// again (its transport dials anew).
	deadline := time.Now().Add(10 * time.Second)
	for !ended[0].Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var gone []int
	for i := range n {
		if ended[i].Load() {
			gone = append(gone, i)
		}
	}
	if len(gone) != 1 || gone[0] != 0 {
		t.Fatalf("connections closed by the server: of clients %v, want only client 0's (idle the longest)", gone)
	}
	if err := getOK(clients[0], s.URL()+"/healthz"); err != nil {
		t.Fatalf("client 0, whose idle connection was closed, again: %v", err)
	}
}

// waitIdle waits until the server counts want connections idle.
func waitIdle(t *testing.T, s *server.Server, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for server.IdleConns(s) != want {
		if time.Now().After(deadline) {
			t.Fatalf("idle connections: %d, want %d", server.IdleConns(s), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// watchedConn records that the server ended the connection (a read met
// its end).
type watchedConn struct {
	net.Conn
	ended *atomic.Bool
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.ended.Store(true)
	}
	return n, err
}

func getOK(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}
