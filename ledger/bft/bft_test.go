package bft

import (
	"bytes"
	"crypto/rand"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

var orderers = []string{"hongkong", "macao", "qianhai", "hengqin"}

func consortium(t testing.TB) *keys.Consortium {
	t.Helper()
	c, err := keys.NewConsortium("gba-test", []string{"shenzhen"}, orderers, keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnvelopeSignVerify(t *testing.T) {
	c := consortium(t)
	payload := bytes.Repeat([]byte("x"), 10_000)
	frames, err := Seal(c.Bundle.Chain, c.Orderers["macao"], KindConsensus, "macao", "hongkong", 7, payload, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(frames), 3; got != want {
		t.Fatalf("frames: got %d, want %d", got, want)
	}
	var re Reassembler
	var out []byte
	for i, f := range frames {
		e, err := DecodeEnvelope(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Verify(c.Bundle, 1); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		msg, done, dropped := re.Add(e)
		if dropped || done != (i == len(frames)-1) {
			t.Fatalf("frame %d: done %v dropped %v", i, done, dropped)
		}
		out = msg
	}
	if !bytes.Equal(out, payload) {
		t.Fatal("reassembled payload differs")
	}

	tests := []struct {
		name   string
		mutate func(e *Envelope)
		want   error
	}{
		{"claims another sender", func(e *Envelope) { e.From = "qianhai" }, ErrForged},
		{"unknown sender", func(e *Envelope) { e.From = "mallory" }, ErrUnknownPeer},
		{"payload changed", func(e *Envelope) { e.Payload = []byte("y") }, ErrBadSignature},
		{"retargeted", func(e *Envelope) { e.To = "qianhai" }, ErrBadSignature},
		{"kind changed", func(e *Envelope) { e.Kind = KindRequest }, ErrBadSignature},
		{"other chain key", func(e *Envelope) { e.KeyID = "orderer/qianhai/1" }, ErrForged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := DecodeEnvelope(frames[0])
			tt.mutate(e)
			e2, err := DecodeEnvelope(e.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if err := e2.Verify(c.Bundle, 1); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReassemblerDropsOutOfOrder(t *testing.T) {
	c := consortium(t)
	a, _ := Seal(c.Bundle.Chain, c.Orderers["macao"], KindConsensus, "macao", "hongkong", 1, make([]byte, 300), 100)
	b, _ := Seal(c.Bundle.Chain, c.Orderers["macao"], KindConsensus, "macao", "hongkong", 2, make([]byte, 50), 100)
	dec := func(f []byte) *Envelope { e, _ := DecodeEnvelope(f); return e }
	var re Reassembler
	re.Add(dec(a[0]))
	if _, done, _ := re.Add(dec(b[0])); !done { // a single-part message passes through
		t.Fatal("single-part message held back")
	}
	if _, done, dropped := re.Add(dec(a[2])); done || !dropped { // a gap drops the message
		t.Fatalf("gap: done %v dropped %v", done, dropped)
	}
	var done bool
	for _, f := range a { // the whole message again goes through
		_, done, _ = re.Add(dec(f))
	}
	if !done {
		t.Fatal("resent message not reassembled")
	}
}

func TestEngineWAL(t *testing.T) {
	dir := t.TempDir()
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := NewEngineWAL(l)
	for i := range 2*truncateEvery + 3 {
		if err := w.Append([]byte{byte(i)}, i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	got, err := w.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) > truncateEvery+2 {
		t.Fatalf("%d entries kept, want 1..%d", len(got), truncateEvery+2)
	}
	if last := got[len(got)-1][0]; last != byte(2*truncateEvery+2) {
		t.Fatalf("last entry %d", last)
	}
	l.Close()
	l, err = wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	again, err := NewEngineWAL(l).ReadAll()
	if err != nil || len(again) != len(got) {
		t.Fatalf("after reopen: %d entries (%v), want %d", len(again), err, len(got))
	}
}

func TestOptionsValid(t *testing.T) {
	for _, o := range []Options{{}, {NoRotation: true}, {BlockMaxBatches: 1, BlockInterval: time.Millisecond}} {
		cfg := o.Configuration(1)
		if err := cfg.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
		if cfg.RequestMaxBytes < schemas.MaxBatchBytes {
			t.Errorf("%+v: a full batch (%d bytes) is not a valid request (%d)", o, schemas.MaxBatchBytes, cfg.RequestMaxBytes)
		}
	}
}

// recorder is a Handler that keeps what it receives.
type recorder struct {
	mu   sync.Mutex
	msgs []*protos.Message
	reqs [][]byte
	from []uint64
	got  chan struct{}
}

func (r *recorder) HandleMessage(sender uint64, m *protos.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.from = append(r.from, sender)
	r.mu.Unlock()
	r.got <- struct{}{}
}

func (r *recorder) HandleRequest(sender uint64, req []byte) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.from = append(r.from, sender)
	r.mu.Unlock()
	r.got <- struct{}{}
}

func TestTransportOverNATS(t *testing.T) {
	c := consortium(t)
	ids, err := bus.NewIdentities([]string{"shenzhen"}, orderers)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := natsserver.StartServer(natsserver.ServerConfig{StoreDir: filepath.Join(t.TempDir(), "js"), Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	conn := func(name string) *nats.Conn {
		nc, err := srv.Connect(bus.IdentityName(bus.RoleOrderer, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	transport := func(name string, nc *nats.Conn, chunk int) *Transport {
		tr, err := NewTransport(TransportConfig{Conn: nc, Trust: c.Bundle, Self: name, Key: c.Orderers[name], MaxChunk: chunk})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	recv := &recorder{got: make(chan struct{}, 16)}
	hk := transport("hongkong", conn("hongkong"), 0)
	if err := hk.Start(recv); err != nil {
		t.Fatal(err)
	}
	defer hk.Stop()
	macaoConn := conn("macao")
	macao := transport("macao", macaoConn, 1024) // force chunking
	wait := func() {
		select {
		case <-recv.got:
		case <-time.After(5 * time.Second):
			t.Fatal("nothing received")
		}
	}

	big := &protos.Message{Content: &protos.Message_PrePrepare{PrePrepare: &protos.PrePrepare{View: 3, Seq: 9,
		Proposal: &protos.Proposal{Payload: bytes.Repeat([]byte{7}, 5000)}}}}
	macao.SendConsensus(1, big)
	wait()
	macao.SendTransaction(1, []byte("a batch"))
	wait()
	if got := recv.msgs[0].GetPrePrepare(); got == nil || got.Seq != 9 || len(got.Proposal.Payload) != 5000 {
		t.Fatalf("pre-prepare: %v", got)
	}
	if string(recv.reqs[0]) != "a batch" || recv.from[0] != 2 || recv.from[1] != 2 {
		t.Fatalf("request %q from %v", recv.reqs[0], recv.from)
	}

	// Macao claims to be Qianhai, with its own key and with a junk one.
	forged, _ := Seal(c.Bundle.Chain, c.Orderers["macao"], KindRequest, "qianhai", "hongkong", 1, []byte("x"), 1024)
	macaoConn.Publish(bus.BFTSubject("hongkong"), forged[0])
	junk := Envelope{Kind: KindRequest, From: "qianhai", To: "hongkong", Parts: 1, Payload: []byte("x"), KeyID: "orderer/qianhai/1", Sig: make([]byte, 64)}
	macaoConn.Publish(bus.BFTSubject("hongkong"), junk.Encode())
	mis, _ := Seal(c.Bundle.Chain, c.Orderers["macao"], KindRequest, "macao", "qianhai", 2, []byte("x"), 1024)
	macaoConn.Publish(bus.BFTSubject("hongkong"), mis[0])
	macaoConn.Publish(bus.BFTSubject("hongkong"), []byte("garbage"))
	macao.SendTransaction(1, []byte("after"))
	wait()
	st := hk.Stats()
	want := Stats{Received: 3, ForgedSender: 1, BadSignature: 1, Misrouted: 1, Malformed: 1}
	if st != want {
		t.Fatalf("stats: got %+v, want %+v", st, want)
	}
	if string(recv.reqs[1]) != "after" {
		t.Fatalf("a forged request got through: %q", recv.reqs[1])
	}
}

// TestTransportStableIDs: with explicit consensus ids (an orderer removed
// from the middle, one added), a sender is known by its id, not its place,
// and a removed orderer's id reaches no one.
func TestTransportStableIDs(t *testing.T) {
	c := consortium(t)
	b := *c.Bundle
	b.Orderers = []string{"hongkong", "qianhai", "hengqin", "macao"}
	b.OrdererIDs = []uint64{1, 3, 4, 7}
	b.NextOrdererID = 8
	raw, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	trust, err := keys.ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := bus.NewIdentities([]string{"shenzhen"}, orderers)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := natsserver.StartServer(natsserver.ServerConfig{StoreDir: filepath.Join(t.TempDir(), "js"), Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	transport := func(name string) *Transport {
		nc, err := srv.Connect(bus.IdentityName(bus.RoleOrderer, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		tr, err := NewTransport(TransportConfig{Conn: nc, Trust: trust, Self: name, Key: c.Orderers[name]})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	recv := &recorder{got: make(chan struct{}, 16)}
	hk := transport("hongkong")
	if err := hk.Start(recv); err != nil {
		t.Fatal(err)
	}
	defer hk.Stop()
	macao := transport("macao")
	if macao.SelfID() != 7 {
		t.Fatalf("macao's id %d, want 7", macao.SelfID())
	}
	if got, want := macao.Nodes(), []uint64{1, 3, 4, 7}; !slices.Equal(got, want) {
		t.Fatalf("nodes %v, want %v", got, want)
	}
	macao.SendTransaction(2, []byte("to a removed orderer"))
	macao.SendTransaction(1, []byte("to hongkong"))
	select {
	case <-recv.got:
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
	}
	if recv.from[0] != 7 || string(recv.reqs[0]) != "to hongkong" {
		t.Errorf("received %q from %d, want from 7", recv.reqs[0], recv.from[0])
	}
	if st := macao.Stats(); st.SendErrors != 1 || st.Sent != 1 {
		t.Errorf("macao's stats %+v: want one send refused (id 2 is no one's)", st)
	}
}
