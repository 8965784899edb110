package main

import (
	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/schemas"
)

// gatewayBridges gives each city's gateway its jurisdiction's bridge: native
// input is normalised through it and identifiers are checked by its rules.
func gatewayBridges(j schemas.Jurisdiction) gateway.Bridge { return bridge.For(j) }
