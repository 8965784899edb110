package bridge_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
)

// TestRenderRedacted: a record of rules version 3 renders in every
// jurisdiction with its hidden personal fields marked as not disclosed
// and never shown; once a reader opens one, that one is shown and the
// others stay withheld (issue 15: rendering works with what is disclosed).
func TestRenderRedacted(t *testing.T) {
	sz := city(t, "shenzhen")
	natives, err := bridge.Sample(sz, schemas.KindCertificate, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := bridge.ToTx("gba", sz, natives[0])
	if err != nil {
		t.Fatal(err)
	}
	name, number := tx.Record.Holder.Name[schemas.LangHans], tx.Record.Holder.IDNumber
	red, items, err := disclose.Redact(tx, disclose.RandomSalter{R: rand.NewChaCha8([32]byte{1})})
	if err != nil {
		t.Fatal(err)
	}
	want := map[schemas.Jurisdiction]string{schemas.CN: "（未披露）", schemas.HK: "（未披露） / (not disclosed)", schemas.MO: "（未披露） / (não divulgado)"}
	for j, mark := range want {
		r, err := bridge.For(j).Render(red)
		if err != nil {
			t.Fatal(err)
		}
		text := values(r)
		if strings.Contains(text, name) || strings.Contains(text, number) {
			t.Fatalf("%s rendering shows a hidden field:\n%s", j, text)
		}
		if strings.Count(text, mark) != 2 {
			t.Fatalf("%s rendering does not mark the holder's name and number withheld (%q):\n%s", j, mark, text)
		}
	}
	var nameItem []disclose.Item
	for _, it := range items {
		if it.Field() == "holder.name" {
			nameItem = append(nameItem, it)
		}
	}
	opened, _, err := disclose.Open(tx.Kind, &red.Record, nameItem)
	if err != nil {
		t.Fatal(err)
	}
	shown := *red
	shown.Record = *opened
	r, err := bridge.For(schemas.HK).Render(&shown)
	if err != nil {
		t.Fatal(err)
	}
	text := values(r)
	if !strings.Contains(text, tx.Record.Holder.Name[schemas.LangHant]) || strings.Contains(text, number) || !strings.Contains(text, "(not disclosed)") {
		t.Fatalf("after opening the name only:\n%s", text)
	}
}

func values(r bridge.Rendering) string {
	var b strings.Builder
	for _, f := range r.Fields {
		b.WriteString(f.Key + " = " + f.Value + "\n")
	}
	return b.String()
}
