package licenses_test

import (
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/orderer"
)

// The state is the orderer's state machine. The assertion lives in a test
// so that the package itself does not link the orderer (and SmartBFT).
var _ orderer.StateMachine = (*licenses.State)(nil)
