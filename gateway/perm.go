package gateway

import (
	"errors"

	"github.com/baybus/baybus/internal/bus"
)

func isPermission(err error) bool { return errors.Is(err, bus.ErrPermission) }
