// Package web is the web UI's door: an HTTP server (HTTPS on the LAN with a
// certificate from the box's local certificate authority) for sign-in,
// sessions with auto-logout, accounts and unlock. It is a thin adapter over
// Service, like the control socket: the rules and the audit rows live in
// the service. Pages are server-rendered with html/template; the few script
// and style files are embedded; nothing is loaded from outside the box.
package web
