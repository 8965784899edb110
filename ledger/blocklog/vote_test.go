package blocklog_test

import (
	"bytes"
	"testing"

	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
)

func TestVoteMsgAuxSignature(t *testing.T) {
	c := blocklogtest.Consortium(t)
	k := c.Orderers["qianhai"]
	hash := [32]byte{1, 2, 3}
	vm := blocklog.VoteMsg{HeaderHash: hash, KeyID: k.KeyID(), Aux: []byte("aux"), AuxSig: blocklog.SignAux(c.Bundle.Chain, k, hash, []byte("aux"))}
	got, err := blocklog.DecodeVoteMsg(vm.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := blocklog.VerifyAux(c.Bundle.Chain, k.Public(), got); err != nil {
		t.Fatal(err)
	}
	got.Aux = []byte("other")
	if err := blocklog.VerifyAux(c.Bundle.Chain, k.Public(), got); err == nil {
		t.Fatal("altered auxiliary data verified")
	}
}

func FuzzDecodeVoteMsg(f *testing.F) {
	f.Add((&blocklog.VoteMsg{KeyID: "orderer/macao/1", Aux: []byte{1}, AuxSig: []byte{2}}).Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := blocklog.DecodeVoteMsg(data)
		if err != nil {
			return
		}
		if !bytes.Equal(v.Encode(), data) {
			t.Fatal("vote message does not round-trip")
		}
	})
}
