package web_test

import (
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/web"
)

// The appliance's service is what the web UI needs (cmd/smsd wires one to
// the other); daemon must not import web, so the check lives here.
var _ web.Service = (*daemon.Service)(nil)
