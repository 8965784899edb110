package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/baybus/baybus/schemas"
)

func TestOpenLoopBulk(t *testing.T) {
	for _, c := range []struct {
		rate    float64
		clients int
		want    int
	}{
		{500, 22, 11}, // each client every half second
		{2200, 22, 50},
		{10, 22, 1},        // never below one event
		{100_000, 22, 256}, // never above the closed loop's size
	} {
		if got := OpenLoopBulk(c.rate, c.clients); got != c.want {
			t.Errorf("OpenLoopBulk(%v, %d) = %d, want %d", c.rate, c.clients, got, c.want)
		}
	}
}

func TestSendInterval(t *testing.T) {
	closed := Config{Duration: 10 * time.Second}.withDefaults()
	if iv, err := closed.sendInterval(); iv != 0 || err != nil {
		t.Errorf("closed loop: %v, %v", iv, err)
	}
	open := Config{Duration: 10 * time.Second, Rate: 2200}.withDefaults()
	iv, err := open.sendInterval()
	if err != nil || iv < 400*time.Millisecond || iv > 600*time.Millisecond {
		t.Errorf("open loop, default bulk: %v, %v; want about half a second", iv, err)
	}
	coarse := Config{Duration: 4 * time.Second, Rate: 500, Bulk: 256}.withDefaults()
	if _, err := coarse.sendInterval(); err == nil || !strings.Contains(err.Error(), "every 11.264s") {
		t.Errorf("coarse open loop: %v, want refused", err)
	}
}

// TestFinalityPairsInEitherOrder: a transaction seen sealed before its
// request's answer is read still counts, with its finality; one sealed
// outside the window is not counted; one never sealed stays pending.
func TestFinalityPairsInEitherOrder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	inWindow := func(at time.Time) bool { return !at.Before(t0) && at.Before(t0.Add(10*time.Second)) }
	f := newFinality(inWindow)
	id := func(b byte) schemas.TxID { return schemas.TxID{b} }

	f.acked(id(1), t0)                                           // answer first,
	f.sealed([]schemas.TxID{id(1)}, t0.Add(30*time.Millisecond)) // then the seal
	f.sealed([]schemas.TxID{id(2)}, t0.Add(50*time.Millisecond)) // seal first,
	f.acked(id(2), t0.Add(10*time.Millisecond))                  // then the answer
	f.acked(id(3), t0.Add(-2*time.Second))
	f.sealed([]schemas.TxID{id(3)}, t0.Add(-time.Second)) // before the window
	f.acked(id(4), t0)                                    // never sealed

	n, lat := f.result()
	if n != 2 || lat.Max != 40 {
		t.Errorf("sealed in window %d, finality %+v; want 2 at most 40 ms (the seal that came first)", n, lat)
	}
	if p := f.pending(); p != 1 {
		t.Errorf("pending %d, want 1", p)
	}
}
