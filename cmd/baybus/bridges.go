package main

import (
	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/schemas"
)

// gatewayBridges gives the gateways each jurisdiction's bridge. Until the
// bridges are wired, gateways take canonical events only.
var gatewayBridges func(schemas.Jurisdiction) gateway.Bridge
