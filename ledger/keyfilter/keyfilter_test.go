package keyfilter

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// store is a set of keys whose scan the filter rebuilds from.
type store struct {
	mu    sync.Mutex
	keys  map[string]bool
	scans int
	fail  error
}

func (s *store) scan(add func([]byte)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scans++
	if s.fail != nil {
		return s.fail
	}
	for k := range s.keys {
		add([]byte(k))
	}
	return nil
}

func TestFilterHoldsEveryKeyAndGrows(t *testing.T) {
	st := &store{keys: map[string]bool{}}
	for i := range 1000 {
		st.keys[fmt.Sprintf("old-%d", i)] = true
	}
	f, err := New(st.scan)
	if err != nil {
		t.Fatal(err)
	}
	if st.scans != 2 || f.size != minKeys {
		t.Fatalf("New: %d scans, sized for %d", st.scans, f.size)
	}
	// Add past the size: the filter rescans and grows, and holds them all.
	for i := range 3 * minKeys {
		k := fmt.Sprintf("new-%d", i)
		if err := f.Add([]byte(k)); err != nil { // added before stored, as a store does
			t.Fatal(err)
		}
		st.mu.Lock()
		st.keys[k] = true
		st.mu.Unlock()
	}
	if f.size < 2*minKeys {
		t.Fatalf("sized for %d keys after %d added", f.size, 3*minKeys)
	}
	for k := range st.keys {
		if !f.MayHold([]byte(k)) {
			t.Fatalf("%s added but reported absent", k)
		}
	}
	fp := 0
	for i := range 10000 {
		if f.MayHold(fmt.Appendf(nil, "absent-%d", i)) {
			fp++
		}
	}
	if fp > 300 { // 1% expected when full; it is less than full here
		t.Fatalf("%d of 10000 absent keys reported present", fp)
	}
}

func TestFilterScanError(t *testing.T) {
	boom := errors.New("disk gone")
	if _, err := New((&store{fail: boom}).scan); !errors.Is(err, boom) {
		t.Fatalf("New: %v", err)
	}
	st := &store{keys: map[string]bool{}}
	f, err := New(st.scan)
	if err != nil {
		t.Fatal(err)
	}
	st.fail = boom
	keys := make([][]byte, minKeys+1) // more than it is sized for: it must rescan
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "k%d", i)
	}
	if err := f.Add(keys...); !errors.Is(err, boom) {
		t.Fatalf("Add that must grow, scan failing: %v", err)
	}
}
