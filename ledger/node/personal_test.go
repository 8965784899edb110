package node_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/internal/natsserver/natstest"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// personalValues returns the values of tx's personal fields present in
// plaintext (schemas.PersonalPaths): what no reader without a personal
// grant may receive.
func personalValues(tx *schemas.Tx) []string {
	var out []string
	text := func(t schemas.Text) {
		for _, v := range t {
			out = append(out, v)
		}
	}
	r := &tx.Record
	if (tx.Kind == schemas.KindCertificate || tx.Kind == schemas.KindApproval) && (r.Holder == nil || schemas.NaturalPerson(r.Holder)) {
		text(r.Name)
	}
	party := func(p *schemas.Party) {
		if schemas.NaturalPerson(p) {
			text(p.Name)
			if p.IDNumber != "" {
				out = append(out, p.IDNumber)
			}
		}
	}
	if r.Holder != nil {
		party(r.Holder)
	}
	for i := range r.People {
		party(&r.People[i])
	}
	return out
}

// fetchAll reads every proof a durable has waiting, and checks none is
// left. A reader acknowledges each; the operator, who may only call the
// JetStream API, reads with no acknowledgements.
func fetchAll(t *testing.T, js jetstream.JetStream, d bus.ReaderDurable, ack bool) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	policy := jetstream.AckNonePolicy
	if ack {
		policy = jetstream.AckExplicitPolicy
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamProofs, jetstream.ConsumerConfig{
		Durable: d.Name, FilterSubject: d.Filter, AckPolicy: policy, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		t.Fatalf("durable %s on %s: %v", d.Name, d.Filter, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	if n := int(info.NumPending); n > 0 {
		msgs, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range msgs.Messages() {
			out = append(out, m.Data())
			if !ack {
				continue
			}
			if err := m.Ack(); err != nil {
				t.Fatal(err)
			}
		}
		if len(out) != n {
			t.Fatalf("%s: %d of %d proofs fetched", d.Name, len(out), n)
		}
	}
	return out
}

// refused reports whether the server refuses identity's subscription to
// subject, or its publish to it (a JetStream API call) with pub.
func refused(t *testing.T, srv *natsserver.Embedded, identity, subject string, pub bool) bool {
	t.Helper()
	nc, err := srv.Connect(identity, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if pub {
		err = nc.Publish(subject, []byte(`{}`))
	} else {
		_, err = nc.SubscribeSync(subject)
	}
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	return errors.Is(nc.LastError(), nats.ErrPermissionViolation)
}

// TestPersonalProofsNeedPersonalGrant is issue 14's "no personal identity
// number reaches an unauthorised reader" on the bus, for a chain of rules
// version 1 (whose records hold natural persons' names and identity
// numbers in plaintext): the orderers publish the proofs of such records
// only on the personal subjects; a reader granted every kind of every
// jurisdiction, but not personal fields, reads every other proof and
// none of those bytes, and cannot subscribe to or make a durable on the
// personal subjects; a reader with personal grants reads them all.
func TestPersonalProofsNeedPersonalGrant(t *testing.T) {
	c := prooftest.Build(t, t.TempDir())
	ids, err := bus.NewIdentities(schemas.CityTokens(), prooftest.Orderers)
	if err != nil {
		t.Fatal(err)
	}
	grants := map[string][]string{
		"hk-bank":  {"CN.*", "HK.*", "MO.*"},
		"mo-court": {"CN.*.personal", "HK.*.personal", "MO.*.personal"},
	}
	for name, g := range grants {
		pub, seed, err := bus.NewUserKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := ids.AddReader(name, pub, seed, g); err != nil {
			t.Fatal(err)
		}
	}
	srv := natstest.Start(t, ids, natstest.Options{Streams: bus.StreamConfig{MemoryForProofs: true}})
	p := newPublisher(t, srv, node.ProofPublisherConfig{Workers: 2})
	p.Start(context.Background())
	c.Replay(t, t.TempDir(), func(rec *blocklog.Record, blk *block.Block, st *licenses.State) {
		p.Hook(st.ProveRoot)(rec, blk)
	})
	waitFor(t, "17 proofs published", func() bool { return p.Stats().Published == 17 })

	// What the chain holds in plaintext: the values to look for, and how
	// many proofs carry them.
	var secrets []string
	personal, plain := 0, 0
	for _, blk := range c.Blocks {
		for _, stx := range blk.Txs() {
			tx, err := schemas.DecodeTx(stx.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, personalValues(tx)...)
		}
	}
	opjs := connectJS(t, srv, "operator")
	for _, b := range fetchAll(t, opjs, bus.ReaderDurable{Name: "audit", Filter: bus.SubjectProofs}, false) {
		bd, err := proof.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if yes, err := node.PersonalInPlaintext(bd); err != nil {
			t.Fatal(err)
		} else if yes {
			personal++
		} else {
			plain++
		}
	}
	if len(secrets) < 5 || personal == 0 || plain == 0 {
		t.Fatalf("the test chain has %d personal values, %d proofs with them and %d without: the test proves nothing", len(secrets), personal, plain)
	}

	// The reader without a personal grant: every plain proof, and no
	// byte of any personal value.
	bank := mustIdentity(t, ids, "reader-hk-bank")
	bankJS := connectJS(t, srv, bank.Name)
	got := 0
	for _, jur := range []string{"CN", "HK", "MO"} {
		d, ok := bus.ReaderDurableFor("hk-bank", bank.Grants, jur, "*")
		if !ok {
			t.Fatalf("hk-bank has no durable for %s.*", jur)
		}
		for _, data := range fetchAll(t, bankJS, d, true) {
			got++
			for _, s := range secrets {
				if bytes.Contains(data, []byte(s)) {
					t.Errorf("hk-bank, without a personal grant, received %q on %s", s, d.Filter)
				}
			}
		}
		if _, ok := bus.ReaderPersonalDurableFor("hk-bank", bank.Grants, jur, "*"); ok {
			t.Errorf("hk-bank has a personal durable for %s.* without a personal grant", jur)
		}
		subj := bus.PersonalProofSubject(jur, "*")
		if !refused(t, srv, bank.Name, subj, false) {
			t.Errorf("hk-bank may subscribe to %s", subj)
		}
		create := "$JS.API.CONSUMER.CREATE." + bus.StreamProofs + ".hk-bank_" + map[string]string{"CN": "cn", "HK": "hk", "MO": "mo"}[jur] + "_all_personal." + subj
		if !refused(t, srv, bank.Name, create, true) {
			t.Errorf("hk-bank may call %s", create)
		}
	}
	if got != plain {
		t.Fatalf("hk-bank read %d proofs, want the %d without personal fields", got, plain)
	}

	// The reader with personal grants reads them, every value included.
	court := mustIdentity(t, ids, "reader-mo-court")
	courtJS := connectJS(t, srv, court.Name)
	var all []byte
	got = 0
	for _, jur := range []string{"CN", "HK", "MO"} {
		d, ok := bus.ReaderPersonalDurableFor("mo-court", court.Grants, jur, "*")
		if !ok {
			t.Fatalf("mo-court has no personal durable for %s.*", jur)
		}
		for _, data := range fetchAll(t, courtJS, d, true) {
			got++
			all = append(all, data...)
			bd, err := proof.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := proof.Verify(c.Trust, bd); err != nil {
				t.Fatalf("%s: %v", bd.Key, err)
			}
		}
	}
	if got != personal {
		t.Fatalf("mo-court read %d personal proofs, want %d", got, personal)
	}
	for _, s := range secrets {
		if !bytes.Contains(all, []byte(s)) {
			t.Errorf("mo-court, with personal grants, never received %q", s)
		}
	}
}

// TestPersonalProofsRules3: on a chain of rules version 3 personal fields
// are digests, so every proof goes on the plain subjects.
func TestPersonalProofsRules3(t *testing.T) {
	c := prooftest.Build3(t, t.TempDir())
	srv := startBus(t)
	p := newPublisher(t, srv, node.ProofPublisherConfig{Workers: 2})
	p.Start(context.Background())
	c.Replay(t, t.TempDir(), func(rec *blocklog.Record, blk *block.Block, st *licenses.State) {
		p.Hook(st.ProveRoot)(rec, blk)
	})
	var licenses int
	for _, blk := range c.Blocks {
		for _, stx := range blk.Txs() {
			if tx, err := schemas.DecodeTx(stx.Bytes); err == nil && tx.Kind.IsLicense() && stx.Result == block.OK {
				licenses++
			}
		}
	}
	waitFor(t, "the license proofs published", func() bool { return p.Stats().Published == uint64(licenses) })
	opjs := connectJS(t, srv, "operator")
	plain := fetchAll(t, opjs, bus.ReaderDurable{Name: "plain", Filter: "gba.proofs.*.*"}, false)
	if len(plain) != licenses || licenses == 0 {
		t.Fatalf("%d proofs on the plain subjects, want %d", len(plain), licenses)
	}
	for _, data := range plain {
		bd, err := proof.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if yes, err := node.PersonalInPlaintext(bd); err != nil || yes {
			t.Fatalf("%s: personal in plaintext %v, %v", bd.Key, yes, err)
		}
	}
}

func mustIdentity(t *testing.T, ids *bus.Identities, name string) *bus.Identity {
	t.Helper()
	u, ok := ids.Get(name)
	if !ok {
		t.Fatalf("no identity %s", name)
	}
	return u
}

func connectJS(t *testing.T, srv *natsserver.Embedded, name string) jetstream.JetStream {
	t.Helper()
	nc, err := srv.Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
