package bft

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/hyperledger-labs/SmartBFT/pkg/api"
)

// Logger adapts a *slog.Logger to SmartBFT's api.Logger. The engine's Info
// lines (one or more per decision) are logged at Debug so that a busy
// orderer does not flood its log; Panicf logs and panics, as the engine
// expects, and is used by it only for broken invariants.
type Logger struct{ L *slog.Logger }

var _ api.Logger = Logger{}

func (l Logger) logf(level slog.Level, format string, args []any) {
	if !l.L.Enabled(context.Background(), level) {
		return
	}
	l.L.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l Logger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug-4, format, args) }
func (l Logger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args) }
func (l Logger) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args) }
func (l Logger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args) }
func (l Logger) Panicf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.L.Error(msg)
	panic(msg)
}
