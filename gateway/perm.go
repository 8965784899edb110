package gateway

import (
	"errors"

	"github.com/baybus/baybus/schemas/bus"
)

func isPermission(err error) bool { return errors.Is(err, bus.ErrPermission) }
