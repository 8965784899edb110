package share_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/gateway/server"
	"github.com/baybus/baybus/gateway/share"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

// bizWithRep is a canonical Shenzhen business registration (sample seed)
// whose legal representative is named repName.
func bizWithRep(t testing.TB, chain string, seed int64, repName string) (*schemas.Tx, []byte) {
	t.Helper()
	sz, _ := schemas.LookupCity("shenzhen")
	raw, err := bridge.Sample(sz, schemas.KindBusiness, 1, seed)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := bridge.ToTx(chain, sz, raw[0])
	if err != nil {
		t.Fatal(err)
	}
	ev := tx.Event()
	ev.Record.People = []schemas.Party{{Name: schemas.Text{schemas.LangEN: repName}, Role: schemas.Text{schemas.LangHans: "法定代表人"}}}
	out, _ := json.Marshal(ev)
	return tx, out
}

// TestBackupWhileServingAndRestore: issue 15 §1's backup, wired. Shenzhen
// backs up its personal data from the running gateway while events go on
// being published through it; the copy checks, holds every record sealed
// before it was asked for, and, restored into a second gateway that never
// saw Shenzhen's events, lets that gateway answer a reader's request
// with the legal representative's name, from the copy alone.
func TestBackupWhileServingAndRestore(t *testing.T) {
	h := newHarness(t)
	repName := secret("ZHOU Min ")
	biz, bizJSON := bizWithRep(t, h.trust.Chain, 51, repName)
	h.publish("shenzhen", bizJSON)
	license := schemas.LicenseKey(schemas.CN, biz.Record.ID)

	// Writes go on while the backup is taken: one event a request.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stop, done := make(chan struct{}), make(chan error, 1)
	pub := client.New(h.base, nil, client.WithToken(h.tokens["shenzhen"]))
	go func() {
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			_, ev := bizWithRep(t, h.trust.Chain, 1000+i, fmt.Sprintf("Rep %d", i))
			res, err := pub.Publish(ctx, "shenzhen", []json.RawMessage{ev}, client.Options{})
			if err == nil && (len(res) != 1 || res[0].Error != nil) {
				err = fmt.Errorf("event %d: %+v", i, res)
			}
			if err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond) // let some writes be under way
	var copyBuf bytes.Buffer
	b, err := h.cities["shenzhen"].Backup(ctx, "shenzhen", &copyBuf)
	close(stop)
	if werr := <-done; werr != nil {
		t.Fatalf("writes during the backup: %v", werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if b.City != "shenzhen" || b.Chain != h.trust.Chain || len(b.Records) < 2 {
		t.Fatalf("backup: %s %s, %d records", b.City, b.Chain, len(b.Records))
	}
	if !bytes.Contains(copyBuf.Bytes(), []byte(`"format":"baybus-share-backup"`)) {
		t.Fatalf("backup's first line: %.200s", copyBuf.Bytes())
	}
	// Only the city's own credential takes it.
	for who, want := range map[string]string{"guangzhou": api.CodeForbidden, "hk-bank": api.CodeForbidden} {
		c := h.cities[who]
		if c == nil {
			c = h.readers[who].c
		}
		if _, err := c.Backup(ctx, "shenzhen", &bytes.Buffer{}); !isCode(err, want) {
			t.Errorf("%s backing up Shenzhen: %v, want %s", who, err, want)
		}
	}

	// A second gateway, its store only the copy.
	data := t.TempDir()
	restore(t, h, data, copyBuf.Bytes())
	gw := startGateway(t, h, data, h.sys.Ledger)
	today := time.Now().In(schemas.GBATime).Format(schemas.DateLayout)
	nextYear := time.Now().In(schemas.GBATime).AddDate(1, 0, 0).Format(schemas.DateLayout)
	if _, err := h.cities["shenzhen"].Grant(ctx, "shenzhen", share.GrantBody{ID: "g-restore", Reader: "hk-bank",
		Kinds: []string{"business"}, Fields: []string{"people.name"}, Purpose: "kyc", From: today, To: nextYear}); err != nil {
		t.Fatal(err)
	}
	r := h.readers["hk-bank"]
	body, err := share.Sign(h.disclose("hk-bank", license, schemas.KindBusiness, []string{"people.name"}, "kyc"), r.sign)
	if err != nil {
		t.Fatal(err)
	}
	a, err := share.NewClient(gw.URL(), nil, r.token).Request(ctx, body)
	if err != nil {
		t.Fatalf("the restored gateway's answer: %v", err)
	}
	_, reading, err := share.Open(h.trust, r.hpke, a)
	if err != nil {
		t.Fatal(err)
	}
	if got := reading.Record.Record.People[0].Name[schemas.LangEN]; got != repName {
		t.Fatalf("read %q from the restored gateway, want %q", got, repName)
	}
}

// restore writes a backup into the store of a gateway whose data
// directory is data.
func restore(t *testing.T, h *harness, data string, backup []byte) {
	t.Helper()
	st, err := share.OpenStore(filepath.Join(data, "share", "disclosures"), share.StoreConfig{Chain: h.trust.Chain})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := share.ReadBackup(bytes.NewReader(backup))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Import(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// restoreShenzhen copies Shenzhen's part of the harness gateway's store
// into the store of a gateway whose data directory is data.
func restoreShenzhen(t *testing.T, h *harness, data string) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := h.cities["shenzhen"].Backup(h.ctx(), "shenzhen", &buf); err != nil {
		t.Fatal(err)
	}
	restore(t, h, data, buf.Bytes())
}

// startGateway starts a second gateway of Shenzhen's on the harness's bus,
// with the data directory data, reading the chain through ledger.
func startGateway(t *testing.T, h *harness, data string, ledger gateway.Ledger) *server.Server {
	t.Helper()
	cons := h.sys.Consortium
	gw, err := server.Start(h.ctx(), server.Config{Consortium: h.dir, Listen: "127.0.0.1:0", Node: "gw-second", Cities: []string{"shenzhen"}, DataDir: data,
		Gateway: gateway.Config{Bridges: func(j schemas.Jurisdiction) gateway.Bridge { return bridge.For(j) }, Ledger: ledger},
		Connect: func(city string) (*nats.Conn, error) { return h.sys.Bus.Connect(bus.IdentityName(bus.RoleCity, city)) },
		Signer:  func(city string) (keys.Signer, error) { return cons.Cities[city], nil },
		Logger:  slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return gw
}

// keptStore is a store holding the disclosures of one Shenzhen record.
func keptStore(t testing.TB, dir, chain string, seed int64) *share.Store {
	t.Helper()
	st, err := share.OpenStore(dir, share.StoreConfig{Chain: chain})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	tx, _ := bizWithRep(t, chain, seed, "HE Ping")
	tx.Record.People[0].IDNumber = "440307199112115050"
	tx.Record.People[0].IDKind = "cn-rid"
	red, kept, err := st.Redact(tx)
	if err != nil {
		t.Fatal(err)
	}
	kept.Tx, kept.TxID = red, sha256.Sum256([]byte(tx.EventID))
	if err := st.Keep(context.Background(), []*gateway.Kept{kept}); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestBackupRefusals: a backup that is cut short, altered, of another
// chain or city, or whose salt key differs from the store's, restores
// nothing.
func TestBackupRefusals(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	st := keptStore(t, t.TempDir(), "gba-test", 61)
	var buf bytes.Buffer
	n, err := st.Export(ctx, &buf, "shenzhen", now)
	if err != nil || n != 3 { // salt key, disclosures, the identity number
		t.Fatalf("export: %d records, %v", n, err)
	}
	good := buf.Bytes()
	if b, err := share.ReadBackup(bytes.NewReader(good)); err != nil || len(b.Records) != 3 || !b.Taken.Equal(now) {
		t.Fatalf("read back: %+v %v", b, err)
	}
	// Guangzhou's part of the store is empty: a header and a last line.
	var gz bytes.Buffer
	if n, err := st.Export(ctx, &gz, "guangzhou", now); err != nil || n != 0 {
		t.Fatalf("guangzhou's part: %d %v", n, err)
	}
	lines := strings.SplitAfter(string(good), "\n")
	for name, bad := range map[string]string{
		"empty":              "",
		"cut short":          strings.Join(lines[:len(lines)-2], ""),
		"altered":            strings.Replace(string(good), `"v":1,"format"`, `"v":1 ,"format"`, 1),
		"record dropped":     lines[0] + strings.Join(lines[2:], ""),
		"after the end":      string(good) + "{}\n",
		"another city's key": strings.Replace(string(good), `"city":"shenzhen"`, `"city":"guangzhou"`, 1),
		"not a backup":       `{"v":1,"format":"something else","chain":"c","city":"shenzhen"}` + "\n",
	} {
		if _, err := share.ReadBackup(strings.NewReader(bad)); !errors.Is(err, share.ErrBackup) {
			t.Errorf("%s: %v, want ErrBackup", name, err)
		}
	}
	b, _ := share.ReadBackup(bytes.NewReader(good))
	other := keptStore(t, t.TempDir(), "gba-other", 61)
	if err := other.Import(ctx, b); !errors.Is(err, share.ErrBackupConflict) {
		t.Errorf("into a store of another chain: %v", err)
	}
	// A store that made its own salt key for Shenzhen refuses the copy;
	// an empty one, or the same store again, takes it.
	own := keptStore(t, t.TempDir(), "gba-test", 62)
	if err := own.Import(ctx, b); !errors.Is(err, share.ErrBackupConflict) {
		t.Errorf("over another salt key: %v", err)
	}
	if err := st.Import(ctx, b); err != nil {
		t.Errorf("into the store it came from: %v", err)
	}
	empty, err := share.OpenStore(t.TempDir(), share.StoreConfig{Chain: "gba-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if err := empty.Import(ctx, b); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if _, err := empty.Export(ctx, &again, "shenzhen", now); err != nil || !bytes.Equal(again.Bytes(), good) {
		t.Fatalf("the restored store's backup differs: %v\n%s\n%s", err, again.Bytes(), good)
	}
}

// FuzzReadBackup: no input panics the backup's decoder, and what it
// accepts has records of the city it names only.
func FuzzReadBackup(f *testing.F) {
	st := keptStore(f, f.TempDir(), "gba-test", 61)
	var buf bytes.Buffer
	if _, err := st.Export(context.Background(), &buf, "shenzhen", time.Unix(0, 0)); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"v":1,"format":"baybus-share-backup","chain":"c","city":"shenzhen","taken":"2026-01-01T00:00:00Z"}` + "\n" +
		`{"end":true,"records":0,"sha256":"00"}` + "\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := share.ReadBackup(bytes.NewReader(raw))
		if err != nil {
			if !errors.Is(err, share.ErrBackup) {
				t.Fatalf("an error that is not ErrBackup: %v", err)
			}
			return
		}
		for _, r := range b.Records {
			if len(r.Key) == 0 {
				t.Fatal("an empty key accepted")
			}
		}
	})
}
