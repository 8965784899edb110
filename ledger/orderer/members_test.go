package orderer

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/replica"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

// propose drafts a configuration over the one in force at n's next
// height and has signers (orderers in force, by name) sign it.
func (c *cluster) propose(n *Node, note string, signers []string, edit func(*config.Draft)) *config.Tx {
	c.t.Helper()
	d := config.NewDraft(n.Config().At(n.Height() + 1))
	edit(d)
	tx, err := d.Proposal(note)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, o := range signers {
		config.Sign(tx, c.cons.Orderers[o], keys.RoleOrderer, o)
	}
	return tx
}

// TestOrdererRemovedUnderLoad: five orderers seal while load runs; a
// configuration block removes Macao, the second (consensus id 2). The
// other four reconfigure their engines at that block and go on with a
// quorum of three, with the ids they had; Macao stops itself and says
// why. Nothing published is lost or sealed twice, and every block's
// certificate verifies under the configuration the genesis trust and the
// chain's configuration blocks give at its height. A configuration signed
// by too few orderers, or counting Macao's vote, is refused; so is a
// certificate of a later block that counts it.
func TestOrdererRemovedUnderLoad(t *testing.T) {
	c := newCluster(t, 5)
	c.startAll()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { c.load(scale(120), 4, 15*time.Millisecond, stop) })
	defer func() { close(stop); wg.Wait() }()
	c.waitHeight(3, 20*time.Second)

	n := c.node("hongkong")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*timeScale)
	defer cancel()
	remove := func(d *config.Draft) {
		if err := d.RemoveOrderer("macao"); err != nil {
			t.Fatal(err)
		}
	}
	few := c.propose(n, "retire macao", []string{"hongkong", "qianhai", "hengqin"}, remove)
	if err := n.SubmitConfig(ctx, few); !errors.Is(err, config.ErrTooFewSignatures) {
		t.Fatalf("three of five orderers: %v", err)
	}
	tx := c.propose(n, "retire macao", []string{"hongkong", "qianhai", "hengqin", "nansha"}, remove)
	if err := n.SubmitConfig(ctx, tx); err != nil {
		t.Fatal(err)
	}
	macao := c.node("macao")
	select {
	case <-macao.Done():
	case <-time.After(60 * time.Second * timeScale):
		t.Fatalf("macao still runs at height %d", macao.Height())
	}
	if err := macao.Err(); !errors.Is(err, ErrRemoved) {
		t.Fatalf("macao stopped with %v, want ErrRemoved", err)
	}
	c.stop("macao")
	waitUntil(t, 30*time.Second, "hongkong seals the configuration", func() bool { return n.Config().LastHeight() > 0 })
	at := n.Config().LastHeight()
	after := n.Config().At(at + 1)
	if got, want := after.ConsensusIDs(), []uint64{1, 3, 4, 5}; !slices.Equal(got, want) || after.Quorum() != 3 {
		t.Fatalf("orderers after the removal: ids %v quorum %d, want %v and 3", got, after.Quorum(), want)
	}

	wg.Wait()
	c.waitSealed(60 * time.Second)
	// Sealed beyond the configuration block by the four.
	c.publish(c.batch("zhuhai", 3))
	c.waitSealed(30 * time.Second)
	c.checkChains()
	if h := n.Height(); h <= at {
		t.Fatalf("nothing sealed after the configuration block at %d", at)
	}
	hist := c.followChain(n)
	for h := at + 1; h <= n.Height(); h++ {
		qc, err := n.Store().QC(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range qc.Votes {
			if v.Signer == "macao" {
				t.Fatalf("block %d counts macao's vote", h)
			}
		}
	}
	// A certificate of the last block with Macao's vote in place of one of
	// the four: refused under the configuration in force there, though it
	// was a valid vote under the genesis.
	last, err := n.Store().Block(n.Height())
	if err != nil {
		t.Fatal(err)
	}
	qc, err := n.Store().QC(n.Height())
	if err != nil {
		t.Fatal(err)
	}
	forged := &block.QC{Votes: append(slices.Clone(qc.Votes[:2]), block.SignVote(c.cons.Orderers["macao"], "macao", &last.Header))}
	if err := block.VerifyQC(hist.At(last.Header.Height), &last.Header, forged); err == nil {
		t.Fatal("a certificate counting a removed orderer's vote verifies")
	}

	// A later configuration with Macao's vote: refused, though three of
	// the four signed too.
	padded := c.propose(n, "macao votes", []string{"hongkong", "qianhai", "hengqin", "macao"}, func(d *config.Draft) {
		if err := d.RevokeKey("city/zhuhai/1", n.Height()+100); err != nil {
			t.Fatal(err)
		}
	})
	config.Sign(padded, c.cons.Cities["zhuhai"], keys.RoleCity, "zhuhai")
	if err := n.SubmitConfig(ctx, padded); !errors.Is(err, config.ErrNotMember) {
		t.Fatalf("a removed orderer's vote: %v", err)
	}
}

// reconfigure seals a configuration over the one in force at n's next
// height, made by edit, signed by a quorum of the orderers in force and by
// each new key edit returns (its proof of possession), and returns the
// height of its block. New keys count from a height edit is given, a few
// blocks ahead (until then a new orderer is a member whose votes do not
// count); a configuration the load pushed past it is refused by the leader
// and drafted again.
func (c *cluster) reconfigure(n *Node, note string, edit func(d *config.Draft, from uint64) map[string]*keys.PrivateKey) uint64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*timeScale)
	defer cancel()
	for range 10 {
		prev, h := n.Config().LastHeight(), n.Height()
		cur := n.Config().At(h + 1)
		from := h + 4
		d := config.NewDraft(cur)
		added := edit(d, from)
		tx, err := d.Proposal(note)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, o := range cur.Orderers[:cur.Quorum()] {
			config.Sign(tx, c.cons.Orderers[o], keys.RoleOrderer, o)
		}
		for name, k := range added {
			config.Sign(tx, k, keys.RoleOrderer, name)
		}
		if err := n.SubmitConfig(ctx, tx); errors.Is(err, replica.ErrVoters) {
			// An orderer added just before does not vote yet: wait for
			// its key's first height.
			if err := n.WaitHeight(ctx, h+4); err != nil {
				c.t.Fatalf("%s: %v", note, err)
			}
			continue
		} else if err != nil {
			c.t.Fatalf("%s: %v", note, err)
		}
		// And to the others, so the leader holds it at once, not after
		// the forward timeout; one still behind n judges it by an older
		// configuration and refuses it.
		for _, o := range c.running() {
			if o != n {
				_ = o.SubmitConfig(ctx, tx)
			}
		}
		for n.Config().LastHeight() == prev && n.Height() < from && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		if at := n.Config().LastHeight(); at > prev {
			for name, k := range added {
				c.cons.Orderers[name] = k
			}
			return at
		}
	}
	c.t.Fatalf("%s: not sealed", note)
	return 0
}

// addOrderers is an edit adding orderers, each with a new key.
func addOrderers(t *testing.T, names ...string) func(d *config.Draft, from uint64) map[string]*keys.PrivateKey {
	return func(d *config.Draft, from uint64) map[string]*keys.PrivateKey {
		out := map[string]*keys.PrivateKey{}
		for _, name := range names {
			k, err := keys.Generate(d.NextKeyID(keys.RoleOrderer, name), keys.Ed25519, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.AddOrderer(name, config.TrustedKeyOf(k.Public(), keys.RoleOrderer, name, from)); err != nil {
				t.Fatal(err)
			}
			out[name] = k
		}
		return out
	}
}

// TestMembership4To5To7To4 is issue 17 §2's test: while load publishes,
// the orderers grow from four to five, then seven, each new one joining
// from the chain with only the genesis trust (Join: it syncs, judging each
// block by the configuration in force at its height, and starts its
// engine once the configuration lists it), then shrink to four, three
// removed at once (two of the genesis, one added), each stopping itself.
// Nothing published is lost or sealed twice; every block's certificate
// verifies under the genesis plus the chain's configuration blocks, which
// the remaining orderers (two of them added) hold alike; the ids are those
// each orderer was given, never reused.
func TestMembership4To5To7To4(t *testing.T) {
	if testing.Short() {
		t.Skip("seven orderers on a real NATS server")
	}
	c := newCluster(t, 4)
	c.engine = fastEngine(7)
	c.startAll()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Forty batches a second (fewer under the race detector, which slows
	// sealing more than publishing), until the orderers are four again.
	wg.Go(func() { c.load(scale(100000), 3, 25*time.Millisecond*timeScale, stop) })
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad()
	c.waitHeight(3, 20*time.Second)
	n := c.node("hongkong")
	join := func(names ...string) {
		t.Helper()
		c.mu.Lock()
		c.names = append(slices.Clone(c.names), names...)
		c.mu.Unlock()
		var jw sync.WaitGroup
		for _, name := range names {
			jw.Go(func() { c.start(name) })
		}
		jw.Wait()
	}

	// Each step waits for the load to publish more under it, so the steps
	// run under load however quickly the orderers reconfigure.
	before := len(c.expected())
	at5 := c.reconfigure(n, "4 to 5", addOrderers(t, "nansha"))
	join("nansha")
	// Caught up with the chain as it was (the load goes on meanwhile).
	c.waitHeight(n.Height(), 60*time.Second)
	c.waitPublished(before+10, 30*time.Second)
	if id := c.node("nansha").Config().At(at5 + 1).ConsensusID("nansha"); id != 5 {
		t.Fatalf("nansha's id %d, want 5", id)
	}

	before = len(c.expected())
	at7 := c.reconfigure(n, "5 to 7", addOrderers(t, "dongguan", "foshan"))
	join("dongguan", "foshan")
	c.waitHeight(n.Height(), 60*time.Second)
	c.waitPublished(before+10, 30*time.Second)
	seven := n.Config().At(at7 + 1)
	if got, want := seven.ConsensusIDs(), []uint64{1, 2, 3, 4, 5, 6, 7}; !slices.Equal(got, want) || seven.Quorum() != 5 {
		t.Fatalf("seven: ids %v quorum %d", got, seven.Quorum())
	}

	removed := []string{"macao", "hengqin", "dongguan"}
	before = len(c.expected())
	at4 := c.reconfigure(n, "7 to 4", func(d *config.Draft, _ uint64) map[string]*keys.PrivateKey {
		for _, o := range removed {
			if err := d.RemoveOrderer(o); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	for _, o := range removed {
		r := c.node(o)
		select {
		case <-r.Done():
		case <-time.After(60 * time.Second * timeScale):
			t.Fatalf("%s still runs at height %d (configuration at %d)", o, r.Height(), at4)
		}
		if err := r.Err(); !errors.Is(err, ErrRemoved) {
			t.Fatalf("%s stopped with %v, want ErrRemoved", o, err)
		}
		c.stop(o)
	}
	four := n.Config().At(at4 + 1)
	if got, want := four.ConsensusIDs(), []uint64{1, 3, 5, 7}; !slices.Equal(got, want) || four.Quorum() != 3 {
		t.Fatalf("four: ids %v quorum %d, want %v and 3", got, four.Quorum(), want)
	}
	c.waitPublished(before+10, 30*time.Second)
	stopLoad()
	c.publish(c.batch("zhuhai", 2))
	c.waitSealed(60 * time.Second)
	c.checkChains()
	if len(c.expected()) < 30 {
		t.Errorf("only %d transactions published under the reconfigurations", len(c.expected()))
	}
	for _, o := range c.running() {
		if got := o.Config().LastHeight(); got != at4 {
			t.Errorf("%s: the last configuration block is %d, want %d", o.Name(), got, at4)
		}
		c.followChain(o)
	}

	// Forged: too few of the four, and a removed orderer's vote.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*timeScale)
	defer cancel()
	revoke := func(d *config.Draft) {
		if err := d.RevokeKey("city/zhuhai/1", n.Height()+100); err != nil {
			t.Fatal(err)
		}
	}
	few := c.propose(n, "two of four", []string{"hongkong", "nansha"}, revoke)
	config.Sign(few, c.cons.Cities["zhuhai"], keys.RoleCity, "zhuhai")
	if err := n.SubmitConfig(ctx, few); !errors.Is(err, config.ErrTooFewSignatures) {
		t.Errorf("two of four orderers: %v", err)
	}
	padded := c.propose(n, "dongguan votes", []string{"hongkong", "nansha", "foshan", "dongguan"}, revoke)
	config.Sign(padded, c.cons.Cities["zhuhai"], keys.RoleCity, "zhuhai")
	if err := n.SubmitConfig(ctx, padded); !errors.Is(err, config.ErrNotMember) {
		t.Errorf("a removed orderer's vote: %v", err)
	}
	// Three orderers whose keys count only much later: seven members, of
	// which four could vote, below the quorum of five. config.Check
	// allows it; the orderers refuse it, since the chain would stop.
	far := n.Height() + 1000
	d := config.NewDraft(n.Config().At(n.Height() + 1))
	added := addOrderers(t, "zhongshan", "jiangmen", "zhaoqing")(d, far)
	stall, err := d.Proposal("three far keys")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"hongkong", "qianhai", "nansha"} {
		config.Sign(stall, c.cons.Orderers[o], keys.RoleOrderer, o)
	}
	for name, k := range added {
		config.Sign(stall, k, keys.RoleOrderer, name)
	}
	if _, err := config.Check(n.Config().At(n.Height()+1), stall, n.Height()+1); err != nil {
		t.Fatalf("config.Check: %v", err)
	}
	if err := n.SubmitConfig(ctx, stall); !errors.Is(err, replica.ErrVoters) {
		t.Errorf("four of seven able to vote: %v", err)
	}
}
