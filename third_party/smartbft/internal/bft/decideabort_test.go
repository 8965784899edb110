// Copyright baybus authors.
//
// SPDX-License-Identifier: Apache-2.0

package bft_test

import (
	"sync"
	"testing"
	"time"

	"github.com/hyperledger-labs/SmartBFT/internal/bft"
	"github.com/hyperledger-labs/SmartBFT/internal/bft/mocks"
	"github.com/hyperledger-labs/SmartBFT/pkg/api"
	"github.com/hyperledger-labs/SmartBFT/pkg/metrics/disabled"
	"github.com/hyperledger-labs/SmartBFT/pkg/types"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"github.com/stretchr/testify/mock"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// fakeView is a Proposer that only decides when told to and aborts when
// the controller aborts it, as a view does.
type fakeView struct {
	abort chan struct{}
	once  sync.Once
}

func (v *fakeView) Propose(types.Proposal)                {}
func (v *fakeView) Start()                                {}
func (v *fakeView) Abort()                                { v.once.Do(func() { close(v.abort) }) }
func (v *fakeView) AbortChan() <-chan struct{}            { return v.abort }
func (v *fakeView) GetLeaderID() uint64                   { return 2 }
func (v *fakeView) GetMetadata() []byte                   { return nil }
func (v *fakeView) HandleMessage(uint64, *protos.Message) {}
func (v *fakeView) Stopped() bool {
	select {
	case <-v.abort:
		return true
	default:
		return false
	}
}

func viewMetadata(t *testing.T, seq uint64) []byte {
	raw, err := proto.Marshal(&protos.ViewMetadata{ViewId: 1, LatestSequence: seq})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// gatedApp blocks the first Deliver until released.
type gatedApp struct {
	entered  chan struct{}
	release  chan struct{}
	mu       sync.Mutex
	delivers int
}

func (a *gatedApp) Deliver(types.Proposal, []types.Signature) types.Reconfig {
	a.mu.Lock()
	a.delivers++
	first := a.delivers == 1
	a.mu.Unlock()
	if first {
		close(a.entered)
		<-a.release
	}
	return types.Reconfig{}
}

// TestDecideThenAbortDoesNotWedgeTheController: a view decides A; while the
// controller delivers A an abort of that view is queued; once A is
// delivered the view decides B at once. The controller then finds both
// the abort and B ready and takes either. Taking the abort first aborts
// the view, whose Decide(B) returns through its abort channel (PR #622);
// then the controller delivers B and, in v1.0.1, waits forever to hand
// the delivery to a Decide that is gone: it never takes another message
// (and Consensus.Stop hangs behind the view changer blocked in AbortView).
// Each round is a fresh controller; the controller must take the view
// change that follows every time.
func TestDecideThenAbortDoesNotWedgeTheController(t *testing.T) {
	for round := range 40 {
		log := zap.NewNop().Sugar()
		batcher := &mocks.Batcher{}
		batcher.On("Close")
		batcher.On("Closed").Return(false)
		batcher.On("Reset")
		pool := &mocks.RequestPool{}
		pool.On("Close")
		leaderMon := &mocks.LeaderMonitor{}
		leaderMon.On("ChangeRole", mock.Anything, mock.Anything, mock.Anything)
		leaderMon.On("Close")
		comm := &mocks.CommMock{}
		comm.On("SendConsensus", mock.Anything, mock.Anything)
		verifier := &mocks.VerifierMock{}
		verifier.On("VerificationSequence").Return(uint64(1))
		app := &gatedApp{entered: make(chan struct{}), release: make(chan struct{})}
		var started sync.WaitGroup
		started.Add(1)
		c := &bft.Controller{
			Checkpoint: &types.Checkpoint{}, Batcher: batcher, RequestPool: pool, LeaderMonitor: leaderMon,
			ID: 1, N: 4, NodesList: []uint64{1, 2, 3, 4}, Logger: log, Application: app, Comm: comm, Verifier: verifier,
			StartedWG: &started, MetricsView: api.NewMetricsView(&disabled.Provider{}),
		}
		c.Deliver = &bft.MutuallyExclusiveDeliver{C: c}
		views := make(chan *fakeView, 16)
		pb := &mocks.ProposerBuilder{}
		pb.On("NewProposer", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
			Return(func(uint64, uint64, uint64, uint64, int) bft.Proposer {
				v := &fakeView{abort: make(chan struct{})}
				views <- v
				return v
			}, bft.Phase(bft.COMMITTED))
		c.ProposerBuilder = pb
		c.Start(1, 1, 0, false)
		<-views // the view of the start

		decided := make(chan struct{})
		go func() {
			defer close(decided)
			c.Decide(types.Proposal{Payload: []byte("A"), Metadata: viewMetadata(t, 1)}, nil, nil)
			c.Decide(types.Proposal{Payload: []byte("B"), Metadata: viewMetadata(t, 2)}, nil, nil)
		}()
		<-app.entered
		c.AbortView(1)
		close(app.release)
		select {
		case <-decided:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Decide did not return", round)
		}
		// The view change that follows must be taken.
		c.ViewChanged(2, 3)
		select {
		case <-views:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the controller takes no view change after a decision and an abort met: wedged in decide", round)
		}
		c.Stop()
	}
}
