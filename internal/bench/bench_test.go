package bench

import (
	"strings"
	"testing"
	"time"
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
