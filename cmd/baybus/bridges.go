package main

import (
	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/schemas"
)

// gatewayBridge adapts a jurisdiction's bridge to what the gateway needs.
type gatewayBridge struct {
	j schemas.Jurisdiction
	bridge.Bridge
}

func (g gatewayBridge) ValidateRecordIDs(kind schemas.Kind, r *schemas.Record) error {
	return bridge.ValidateRecordIDs(g.j, kind, r)
}

// gatewayBridges gives each city's gateway its jurisdiction's bridge: native
// input is normalised through it and identifiers are checked by its rules.
func gatewayBridges(j schemas.Jurisdiction) gateway.Bridge {
	return gatewayBridge{j: j, Bridge: bridge.For(j)}
}
