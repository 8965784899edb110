package outbox_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/baybus/baybus/gateway/outbox"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// batches makes n signed batches of city, one transaction each.
func batches(t testing.TB, city string, n int) []*schemas.Batch {
	t.Helper()
	key, err := keys.Generate("city-"+city+"#1", keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*schemas.Batch, n)
	for i := range out {
		tx := []byte(fmt.Sprintf(`{"tx":%d,"city":%q}`, i, city))
		b, err := schemas.SealBatch("gba-test", city, int64(i), uint64(i), [][]byte{tx}, key)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

func add(t *testing.T, s *outbox.Store, b *schemas.Batch) {
	t.Helper()
	ch, err := s.Add(b, b.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
}

func ids(es []outbox.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.BatchID
	}
	return out
}

// TestKeepAndForget: what is added is pending, in order, across a reopen;
// what is done is forgotten, also across a reopen.
func TestKeepAndForget(t *testing.T) {
	dir := t.TempDir()
	s, err := outbox.Open(dir, outbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bs := batches(t, "shenzhen", 5)
	for _, b := range bs {
		add(t, s, b)
	}
	if err := s.Done(bs[1].ID(), bs[3].ID(), "not-a-batch"); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]string{bs[0].ID(), bs[2].ID(), bs[4].ID()})
	if got := fmt.Sprint(ids(s.Pending())); got != want {
		t.Fatalf("pending %s, want %s", got, want)
	}
	if _, err := outbox.Open(dir, outbox.Config{}); !errors.Is(err, outbox.ErrInUse) {
		t.Fatalf("a second Open of the same directory: %v, want ErrInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(bs[0], bs[0].Encode()); !errors.Is(err, outbox.ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	s, err = outbox.Open(dir, outbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := s.Pending()
	if got := fmt.Sprint(ids(p)); got != want {
		t.Fatalf("after reopen: pending %s, want %s", got, want)
	}
	if p[0].City != "shenzhen" || len(p[0].TxIDs) != 1 || p[0].TxIDs[0] != bs[0].IDs[0] || string(p[0].Frame) != string(bs[0].Encode()) {
		t.Fatalf("entry %+v", p[0])
	}
	if st := s.Stats(); st.Batches != 3 || st.Bytes != int64(3*len(bs[0].Encode())) {
		t.Fatalf("stats %+v", st)
	}
}

// TestFull: beyond MaxBytes, Add refuses at once and keeps nothing; room
// comes back with Done.
func TestFull(t *testing.T) {
	bs := batches(t, "macao", 3)
	size := int64(len(bs[0].Encode()))
	s, err := outbox.Open(t.TempDir(), outbox.Config{MaxBytes: 2 * size})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	add(t, s, bs[0])
	add(t, s, bs[1])
	if _, err := s.Add(bs[2], bs[2].Encode()); !errors.Is(err, outbox.ErrFull) {
		t.Fatalf("third batch: %v, want ErrFull", err)
	}
	if err := s.Done(bs[0].ID()); err != nil {
		t.Fatal(err)
	}
	add(t, s, bs[2])
	if n := len(s.Pending()); n != 2 {
		t.Fatalf("%d pending", n)
	}
}

// TestConcurrentAdds share fsyncs and all end up kept.
func TestConcurrentAdds(t *testing.T) {
	dir := t.TempDir()
	s, err := outbox.Open(dir, outbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bs := batches(t, "zhuhai", 200)
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, err := s.Add(b, b.Encode())
			if err == nil {
				err = <-ch
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = outbox.Open(dir, outbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := len(s.Pending()); n != 200 {
		t.Fatalf("%d pending after reopen, want 200", n)
	}
}

// TestCompaction: a batch that stays pending while many others come and
// go does not pin a growing log; it survives the compaction and a reopen.
func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	s, err := outbox.Open(dir, outbox.Config{CompactAfter: 50})
	if err != nil {
		t.Fatal(err)
	}
	bs := batches(t, "foshan", 400)
	add(t, s, bs[0]) // stays
	for _, b := range bs[1:] {
		add(t, s, b)
		if err := s.Done(b.ID()); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Records > 120 || st.Batches != 1 {
		t.Fatalf("after 798 records with one batch pending: %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = outbox.Open(dir, outbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := ids(s.Pending()); len(got) != 1 || got[0] != bs[0].ID() {
		t.Fatalf("pending after compaction and reopen: %v", got)
	}
}

// TestTornTail: a record torn by a crash (an Add that never returned) is
// cut on open; what was kept before it stays.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := outbox.Open(dir, outbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bs := batches(t, "huizhou", 3)
	for _, b := range bs {
		add(t, s, b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "log", "*"))
	last := segs[len(segs)-1]
	fi, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(last, fi.Size()-7); err != nil {
		t.Fatal(err)
	}
	s, err = outbox.Open(dir, outbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := fmt.Sprint(ids(s.Pending())); got != fmt.Sprint([]string{bs[0].ID(), bs[1].ID()}) {
		t.Fatalf("pending after a torn tail: %s", got)
	}
}

func TestRecords(t *testing.T) {
	b := batches(t, "jiangmen", 1)[0]
	for _, rec := range []outbox.Record{{Put: &outbox.Entry{City: "jiangmen", Frame: b.Encode()}}, {Done: []string{b.ID(), "x"}}} {
		got, err := outbox.DecodeRecord(outbox.EncodeRecord(rec))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Put != nil && (got.Put == nil || got.Put.BatchID != b.ID() || got.Put.City != "jiangmen") {
			t.Fatalf("put: %+v", got)
		}
		if rec.Done != nil && fmt.Sprint(got.Done) != fmt.Sprint(rec.Done) {
			t.Fatalf("done: %+v", got)
		}
	}
	for name, raw := range map[string][]byte{
		"empty":      nil,
		"version":    {9, 1},
		"kind":       {1, 9},
		"short put":  {1, 1, 5, 'x'},
		"other city": outbox.EncodeRecord(outbox.Record{Put: &outbox.Entry{City: "macao", Frame: b.Encode()}}),
		"not frame":  outbox.EncodeRecord(outbox.Record{Put: &outbox.Entry{City: "jiangmen", Frame: []byte("GBB1")}}),
		"trailing":   append(outbox.EncodeRecord(outbox.Record{Done: []string{"a"}}), 0),
		"count":      {1, 2, 200, 1},
	} {
		if _, err := outbox.DecodeRecord(raw); !errors.Is(err, outbox.ErrRecord) {
			t.Errorf("%s: %v, want ErrRecord", name, err)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	b := batches(f, "dongguan", 1)[0]
	f.Add(outbox.EncodeRecord(outbox.Record{Put: &outbox.Entry{City: "dongguan", Frame: b.Encode()}}))
	f.Add(outbox.EncodeRecord(outbox.Record{Done: []string{b.ID()}}))
	f.Add([]byte{1, 2, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		rec, err := outbox.DecodeRecord(raw)
		if err != nil {
			if !errors.Is(err, outbox.ErrRecord) {
				t.Fatalf("error %v does not wrap ErrRecord", err)
			}
			return
		}
		again, err := outbox.DecodeRecord(outbox.EncodeRecord(rec))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if (rec.Put == nil) != (again.Put == nil) || fmt.Sprint(rec.Done) != fmt.Sprint(again.Done) ||
			(rec.Put != nil && (rec.Put.BatchID != again.Put.BatchID || rec.Put.City != again.Put.City)) {
			t.Fatalf("round trip: %+v, %+v", rec, again)
		}
	})
}
