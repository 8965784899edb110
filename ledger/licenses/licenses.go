// Package licenses binds the authenticated license state (ledger/state) to
// the block rules (ledger/block): it is the orderer's StateMachine.
package licenses

import (
	"errors"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/state"
)

// State is a state.Store seen as the orderer's state machine
// (orderer.StateMachine; licenses_test.go asserts it, so that offline
// readers such as ledger/audit can rebuild a state without linking the
// orderer).
type State struct {
	*state.Store
}

// Open opens (or creates) the license state in dir.
func Open(dir string, opts state.Options) (*State, error) {
	s, err := state.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	return &State{Store: s}, nil
}

// License implements block.State.
func (s *State) License(key string) (block.License, bool, error) {
	leaf, err := s.Store.Get(key)
	if errors.Is(err, state.ErrNotFound) {
		return block.License{}, false, nil
	}
	if err != nil {
		return block.License{}, false, err
	}
	return block.License{Status: leaf.Status, RecordTx: leaf.RecordHash, LastTx: leaf.TxID, Height: leaf.Height,
		Owner: leaf.Owner, ValidTo: leaf.ValidTo, Kind: leaf.Kind, Uses: leaf.Uses, Terms: leaf.Terms}, true, nil
}

// PreviewRoot implements block.State.
func (s *State) PreviewRoot(height uint64, ups []block.StateUpdate) ([32]byte, error) {
	return s.Store.Preview(height, convert(ups))
}

// Commit applies the updates of the block at height (orderer.StateMachine).
func (s *State) Commit(height uint64, ups []block.StateUpdate) error {
	_, err := s.Store.Apply(height, convert(ups))
	return err
}

func convert(ups []block.StateUpdate) []state.Update {
	out := make([]state.Update, len(ups))
	for i, u := range ups {
		out[i] = state.Update{Key: u.Key, Status: u.License.Status, RecordHash: u.License.RecordTx, TxID: u.License.LastTx,
			Owner: u.License.Owner, ValidTo: u.License.ValidTo, Kind: u.License.Kind, Uses: u.License.Uses, Terms: u.License.Terms}
	}
	return out
}
