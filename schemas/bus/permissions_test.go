package bus_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/schemas/bus"
)

// permServer starts a server with the streams, the orderers' consumers,
// three readers (hk-bank: CN.business; mo-gov: HK.*; mo-court:
// CN.certificate.personal and MO.*.personal) and one durable each.
func permServer(t *testing.T) (*natsserver.Embedded, *bus.Identities) {
	t.Helper()
	ids, err := bus.NewIdentities([]string{"zhuhai", "shenzhen"}, []string{"hongkong", "macao", "qianhai", "hengqin"})
	if err != nil {
		t.Fatal(err)
	}
	for name, grants := range map[string][]string{"hk-bank": {"CN.business"}, "mo-gov": {"HK.*"}, "mo-court": {"CN.certificate.personal", "MO.*.personal"}} {
		pub, seed, err := bus.NewUserKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := ids.AddReader(name, pub, seed, grants); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := natsserver.StartServer(natsserver.ServerConfig{StoreDir: filepath.Join(t.TempDir(), "js"), Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	js := operatorJS(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, js, bus.StreamConfig{Orderers: []string{"hongkong", "macao", "qianhai", "hengqin"}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ reader, jur, kind string }{{"hk-bank", "CN", "business"}, {"mo-gov", "HK", "*"}} {
		u := mustGet(t, ids, bus.IdentityName(bus.RoleReader, r.reader))
		d, ok := bus.ReaderDurableFor(r.reader, u.Grants, r.jur, r.kind)
		if !ok {
			t.Fatalf("%s has no durable for %s.%s", r.reader, r.jur, r.kind)
		}
		rjs := connectJS(t, srv, u.Name)
		if _, err := rjs.CreateOrUpdateConsumer(ctx, bus.StreamProofs, jetstream.ConsumerConfig{Durable: d.Name, FilterSubject: d.Filter, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
			t.Fatalf("%s creates its own durable %s: %v", r.reader, d.Name, err)
		}
	}
	return srv, ids
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

// allowed reports whether the server lets identity do verb on subject:
// "pub" publishes, "req" publishes with a reply on the identity's own
// inbox, "sub" subscribes. The server answers a refused publish or
// subscription with an error before the PONG of the flush that follows,
// and the client records it (LastError) before the flush returns, so no
// refusal is missed and nothing waits for a time-out.
func allowed(t *testing.T, srv *natsserver.Embedded, identity, verb, subject string) bool {
	t.Helper()
	nc, err := srv.Connect(identity, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	switch verb {
	case "pub":
		err = nc.Publish(subject, []byte("{}"))
	case "req":
		inbox := nc.NewRespInbox()
		if _, err = nc.SubscribeSync(inbox); err == nil {
			err = nc.PublishRequest(subject, inbox, []byte("{}"))
		}
	case "sub":
		_, err = nc.SubscribeSync(subject)
	default:
		t.Fatalf("verb %q", verb)
	}
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		t.Fatalf("%s %s %s: %v", identity, verb, subject, err)
	}
	last := nc.LastError()
	if last == nil {
		return true
	}
	if !errors.Is(last, nats.ErrPermissionViolation) || !strings.Contains(last.Error(), `"`+subject+`"`) {
		t.Fatalf("%s %s %s: unexpected error %v", identity, verb, subject, last)
	}
	return false
}

// TestPermissionTable: every identity against every subject and verb,
// JetStream API calls included, on a real server (issue 14 §5).
func TestPermissionTable(t *testing.T) {
	srv, ids := permServer(t)
	inboxOf := func(name string) string { return bus.InboxPrefix(mustGet(t, ids, name).Public) }
	const (
		zhuhai   = "city-zhuhai"
		shenzhen = "city-shenzhen"
		hongkong = "orderer-hongkong"
		macao    = "orderer-macao"
		service  = "service"
		hkBank   = "reader-hk-bank"
		moGov    = "reader-mo-gov"
		moCourt  = "reader-mo-court"
		operator = "operator"
	)
	every := []string{zhuhai, shenzhen, hongkong, macao, service, hkBank, moGov, moCourt, operator}
	all := func(except ...string) []string {
		return slices.DeleteFunc(slices.Clone(every), func(s string) bool { return slices.Contains(except, s) })
	}
	orderers := []string{hongkong, macao}
	js := func(s string) string { return "$JS.API." + s }
	type row struct {
		verb, subject string
		who           []string // the identities allowed; everyone else refused
	}
	rows := []row{
		// Core subjects.
		{"pub", "gba.tx.zhuhai", []string{zhuhai}},
		{"pub", "gba.tx.shenzhen", []string{shenzhen}},
		{"pub", "gba.bft.hongkong", orderers},
		{"pub", "gba.sync.hongkong", []string{hongkong, macao, service}},
		{"req", "gba.sync.macao", []string{hongkong, macao, service}},
		{"req", "gba.query.hongkong", []string{zhuhai, shenzhen, service}},
		{"pub", "gba.blocks", orderers},
		{"pub", "gba.proofs.CN.business", orderers},
		{"pub", "gba.other", nil},
		{"sub", "gba.tx.zhuhai", nil},
		{"sub", "gba.tx.>", nil},
		{"sub", "gba.bft.hongkong", []string{hongkong}},
		{"sub", "gba.bft.*", nil},
		{"sub", "gba.sync.hongkong", []string{hongkong}},
		{"sub", "gba.query.macao", []string{macao}},
		{"sub", "gba.query.*", nil},
		{"sub", "gba.blocks", []string{zhuhai, shenzhen, hongkong, macao, service}},
		{"sub", "gba.proofs.CN.business", []string{hkBank}},
		{"sub", "gba.proofs.HK.business", []string{moGov}},
		{"sub", "gba.proofs.HK.*", []string{moGov}},
		{"sub", "gba.proofs.>", nil},
		// Personal subjects (issue 14 §4): only a personal grant's.
		{"pub", "gba.proofs.CN.certificate.personal", orderers},
		{"sub", "gba.proofs.CN.certificate", []string{moCourt}},
		{"sub", "gba.proofs.CN.certificate.personal", []string{moCourt}},
		{"sub", "gba.proofs.CN.business.personal", nil},
		{"sub", "gba.proofs.HK.business.personal", nil},
		{"sub", "gba.proofs.HK.*.personal", nil},
		{"sub", "gba.proofs.MO.*.personal", []string{moCourt}},
		{"sub", "gba.proofs.MO.approval.personal", []string{moCourt}},
		{"sub", "gba.proofs.MO.*", []string{moCourt}},
		{"sub", "gba.proofs.*.*.personal", nil},
		{"sub", ">", nil},
		// Inboxes: only one's own (the reproduction: city-zhuhai on _INBOX.>).
		{"sub", "_INBOX.>", nil},
		{"sub", "_INBOX_*.>", nil},
		{"sub", inboxOf(hongkong) + ".>", []string{hongkong}},
		{"sub", inboxOf(zhuhai) + ".x", []string{zhuhai}},
		{"pub", "_INBOX.x", nil},
		{"pub", inboxOf(hongkong) + ".x.y", nil},
		{"pub", "$JS.ACK.GBA_TX.orderer-hongkong.1.1.1.1.1.0", []string{hongkong}},
		{"pub", "$JS.ACK.GBA_TX.orderer-macao.1.1.1.1.1.0", []string{macao}},
		{"pub", "$JS.ACK.GBA_PROOFS.hk-bank_cn_business.1.1.1.1.1.0", []string{hkBank}},
		{"pub", "$JS.ACK.GBA_PROOFS.subscribe-cn-business.1.1.1.1.1.0", nil},
		// JetStream: account and streams.
		{"req", js("INFO"), all()},
		{"req", js("STREAM.INFO.GBA_TX"), []string{zhuhai, shenzhen, operator}},
		{"req", js("STREAM.INFO.GBA_PROOFS"), []string{operator}},
		{"req", js("STREAM.NAMES"), []string{operator}},
		{"req", js("STREAM.LIST"), []string{operator}},
		{"req", js("STREAM.CREATE.EVIL"), []string{operator}},
		{"req", js("STREAM.UPDATE.GBA_TX"), []string{operator}},
		{"req", js("STREAM.MSG.GET.GBA_TX"), []string{operator}},
		{"req", js("STREAM.INFO.GBA_BLOCKS"), []string{hongkong, macao, operator}},
		{"req", js("STREAM.MSG.GET.GBA_BLOCKS"), []string{hongkong, macao, operator}},
		{"req", js("DIRECT.GET.GBA_BLOCKS"), []string{hongkong, macao, operator}},
		{"req", js("STREAM.MSG.GET.GBA_PROOFS"), []string{operator}},
		{"req", js("STREAM.MSG.DELETE.GBA_TX"), []string{operator}},
		{"req", js("DIRECT.GET.GBA_TX"), []string{operator}},
		{"req", js("STREAM.PURGE.GBA_PROOFS"), []string{operator}},
		{"req", js("STREAM.DELETE.GBA_BLOCKS"), []string{operator}},
		{"req", js("META.LEADER.STEPDOWN"), []string{operator}},
		// JetStream: the orderers' consumers.
		{"req", js("CONSUMER.CREATE.GBA_TX.orderer-hongkong.gba.tx.*"), []string{hongkong, operator}},
		{"req", js("CONSUMER.CREATE.GBA_TX.orderer-macao.gba.tx.*"), []string{macao, operator}},
		{"req", js("CONSUMER.CREATE.GBA_TX.orderer-hongkong"), []string{operator}},
		{"req", js("CONSUMER.CREATE.GBA_TX.spy.gba.tx.*"), []string{operator}},
		{"req", js("CONSUMER.DURABLE.CREATE.GBA_TX.orderer-hongkong"), []string{operator}},
		{"req", js("CONSUMER.INFO.GBA_TX.orderer-hongkong"), []string{hongkong, operator}},
		{"req", js("CONSUMER.MSG.NEXT.GBA_TX.orderer-hongkong"), []string{hongkong, operator}},
		{"req", js("CONSUMER.MSG.NEXT.GBA_TX.orderer-macao"), []string{macao, operator}},
		{"req", js("CONSUMER.NAMES.GBA_TX"), []string{operator}},
		{"req", js("CONSUMER.LIST.GBA_PROOFS"), []string{operator}},
		{"req", js("CONSUMER.DELETE.GBA_TX.orderer-hongkong"), []string{operator}},
		// JetStream: readers' durables, each only its own, filtered to its grants.
		{"req", js("CONSUMER.CREATE.GBA_PROOFS.hk-bank_cn_business.gba.proofs.CN.business"), []string{hkBank, operator}},
		{"req", js("CONSUMER.CREATE.GBA_PROOFS.hk-bank_cn_business.gba.proofs.HK.business"), []string{operator}},
		{"req", js("CONSUMER.CREATE.GBA_PROOFS.hk-bank_cn_business.gba.proofs.>"), []string{operator}},
		{"req", js("CONSUMER.CREATE.GBA_PROOFS.hk-bank_cn_business"), []string{operator}},
		{"req", js("CONSUMER.CREATE.GBA_PROOFS.hk-bank_cn_certificate.gba.proofs.CN.certificate"), []string{operator}},
		{"req", js("CONSUMER.CREATE.GBA_PROOFS.mo-gov_hk_all.gba.proofs.HK.*"), []string{moGov, operator}},
		{"req", js("CONSUMER.CREATE.GBA_PROOFS.mo-gov_hk_approval.gba.proofs.HK.approval"), []string{moGov, operator}},
		{"req", js("CONSUMER.INFO.GBA_PROOFS.hk-bank_cn_business"), []string{hkBank, operator}},
		{"req", js("CONSUMER.MSG.NEXT.GBA_PROOFS.hk-bank_cn_business"), []string{hkBank, operator}},
		{"req", js("CONSUMER.MSG.NEXT.GBA_PROOFS.mo-gov_hk_all"), []string{moGov, operator}},
		{"req", js("CONSUMER.DELETE.GBA_PROOFS.mo-gov_hk_all"), []string{moGov, operator}},
		{"req", js("CONSUMER.DELETE.GBA_PROOFS.hk-bank_cn_business"), []string{hkBank, operator}},
		{"req", js("CONSUMER.DELETE.GBA_PROOFS.subscribe-cn-business"), []string{operator}},
		{"req", js("CONSUMER.CREATE.GBA_PROOFS.mo-court_cn_certificate_personal.gba.proofs.CN.certificate.personal"), []string{moCourt, operator}},
		{"req", js("CONSUMER.CREATE.GBA_PROOFS.mo-court_cn_certificate.gba.proofs.CN.certificate"), []string{moCourt, operator}},
		{"req", js("CONSUMER.CREATE.GBA_PROOFS.mo-court_cn_certificate_personal.gba.proofs.CN.business.personal"), []string{operator}},
		{"req", js("CONSUMER.CREATE.GBA_PROOFS.hk-bank_cn_business_personal.gba.proofs.CN.business.personal"), []string{operator}},
		{"req", js("CONSUMER.CREATE.GBA_PROOFS.mo-gov_hk_all_personal.gba.proofs.HK.*.personal"), []string{operator}},
		{"req", js("CONSUMER.CREATE.GBA_PROOFS.mo-court_mo_all_personal.gba.proofs.MO.*.personal"), []string{moCourt, operator}},
		{"req", js("CONSUMER.MSG.NEXT.GBA_PROOFS.mo-court_mo_approval_personal"), []string{moCourt, operator}},
	}
	// The operator last: its calls delete things.
	for _, id := range every {
		t.Run(id, func(t *testing.T) {
			for _, r := range rows {
				want := slices.Contains(r.who, id)
				if got := allowed(t, srv, id, r.verb, r.subject); got != want {
					t.Errorf("%s %s %s: allowed %v, want %v", id, r.verb, r.subject, got, want)
				}
			}
		})
	}
}

// TestOrdererCannotDeleteStreams is issue 14's reproduction: as
// orderer-nansha, $JS.API.STREAM.DELETE.GBA_TX answered success:true and
// every city then got 503. Now the request is refused, the stream stays,
// and a city still publishes.
func TestOrdererCannotDeleteStreams(t *testing.T) {
	srv, _ := startServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, stream := range []string{bus.StreamTx, bus.StreamProofs, bus.StreamBlocks} {
		if allowed(t, srv, "orderer-hengqin", "req", "$JS.API.STREAM.DELETE."+stream) {
			t.Errorf("orderer-hengqin may delete %s", stream)
		}
	}
	op := operatorJS(t, srv)
	for _, stream := range []string{bus.StreamTx, bus.StreamProofs, bus.StreamBlocks} {
		if _, err := op.Stream(ctx, stream); err != nil {
			t.Fatalf("%s after the orderer's delete: %v", stream, err)
		}
	}
	if _, err := cityPublisher(t, srv, "zhuhai").Publish(ctx, bus.TxSubject("zhuhai"), "z1", []byte("z")); err != nil {
		t.Fatalf("city publish after the orderer's delete: %v", err)
	}
}

// TestCityCannotWatchOrEndDeliveries is issue 14's reproduction:
// city-zhuhai subscribed to _INBOX.> saw every GBA_TX delivery to every
// orderer, and its +TERM to them was accepted. Now it sees none, its
// +TERM is refused, and the orderer still acknowledges the batch.
func TestCityCannotWatchOrEndDeliveries(t *testing.T) {
	srv, _ := startServerStreams(t, "", bus.StreamConfig{Orderers: []string{"hongkong"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	spy, err := srv.Connect("city-zhuhai")
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	watched, err := spy.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := spy.LastError(); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Fatalf("subscription to _INBOX.>: %v, want a permission violation", err)
	}

	if _, err := cityPublisher(t, srv, "shenzhen").Publish(ctx, bus.TxSubject("shenzhen"), "s1", []byte("batch")); err != nil {
		t.Fatal(err)
	}
	ojs := connectJS(t, srv, "orderer-hongkong")
	cons, err := ojs.CreateOrUpdateConsumer(ctx, bus.StreamTx, bus.OrdererConsumerConfig("hongkong", 30*time.Second, 16))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	msg := <-batch.Messages()
	if msg == nil {
		t.Fatalf("the orderer received nothing: %v", batch.Error())
	}
	if m, err := watched.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("city-zhuhai saw a delivery on %s", m.Subject)
	}
	ackSubject := msg.Reply()
	if err := spy.Publish(ackSubject, []byte("+TERM")); err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := spy.LastError(); !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), ackSubject) {
		t.Fatalf("+TERM to %s: %v, want a permission violation", ackSubject, err)
	}
	if err := msg.DoubleAck(ctx); err != nil {
		t.Fatalf("the orderer's own ack after the city's +TERM: %v", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.AckFloor.Stream != 1 {
		t.Fatalf("ack floor %d, want 1 (acknowledged by the orderer, not terminated by the city)", info.AckFloor.Stream)
	}
}

// TestOnlyOrderersAnswerRequests: an orderer answers a request it received
// (many messages, as a sync reply streams blocks) on the asker's inbox; a
// city cannot publish into that inbox, nor can an orderer into an inbox no
// request named.
func TestOnlyOrderersAnswerRequests(t *testing.T) {
	srv, ids := startServer(t, "")
	orderer, err := srv.Connect("orderer-macao")
	if err != nil {
		t.Fatal(err)
	}
	defer orderer.Close()
	if _, err := orderer.Subscribe(bus.SyncSubject("macao"), func(m *nats.Msg) {
		for i := range 3 {
			_ = orderer.Publish(m.Reply, fmt.Appendf(nil, "part %d", i))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := orderer.Flush(); err != nil {
		t.Fatal(err)
	}
	svc, err := srv.Connect("service")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	inbox := svc.NewRespInbox()
	if !strings.HasPrefix(inbox, bus.InboxPrefix(mustGet(t, ids, "service").Public)+".") {
		t.Fatalf("inbox %s lacks the identity's prefix", inbox)
	}
	sub, err := svc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.PublishRequest(bus.SyncSubject("macao"), inbox, []byte("status?")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if want := fmt.Sprintf("part %d", i); string(m.Data) != want {
			t.Fatalf("reply %d: %q", i, m.Data)
		}
	}
	for _, who := range []string{"city-zhuhai", "orderer-hongkong"} {
		if allowed(t, srv, who, "pub", inbox) {
			t.Errorf("%s may publish into the service's inbox %s", who, inbox)
		}
	}
}

// TestEveryConnectionUsesItsInboxPrefix: connections made through
// Connect (a seed file) and Embedded.Connect reply on their identity's
// prefix, so JetStream publishing and API calls work under the
// permissions above.
func TestEveryConnectionUsesItsInboxPrefix(t *testing.T) {
	srv, ids := startServer(t, "127.0.0.1:-1")
	dir := t.TempDir()
	if err := ids.Write(dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ext, err := bus.Connect(srv.ClientURL(), bus.SeedPath(dir, "city-macao"), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	in, err := srv.Connect("city-macao")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	want := bus.InboxPrefix(mustGet(t, ids, "city-macao").Public) + "."
	for name, nc := range map[string]*nats.Conn{"external": ext, "in-process": in} {
		if got := nc.NewInbox(); !strings.HasPrefix(got, want) {
			t.Errorf("%s: inbox %s, want prefix %s", name, got, want)
		}
		pub, err := bus.NewPublisher(nc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pub.Publish(ctx, bus.TxSubject("macao"), name, []byte(name)); err != nil {
			t.Errorf("%s: publish: %v", name, err)
		}
		if _, err := pub.JetStream().Stream(ctx, bus.StreamTx); err != nil {
			t.Errorf("%s: GBA_TX info for readiness: %v", name, err)
		}
		if err := bus.WaitJetStream(ctx, nc); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
