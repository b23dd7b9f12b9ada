package daemon

import (
	"context"

	"github.com/clinicsms/smsd/ops"
)

// The front desk's work for the web UI and the JSON API. PLACEHOLDERS
// while issue 14 is built: each answers "not built yet" until its
// implementation replaces it in this file.

func notBuilt(what string) error {
	return ops.Errorf(ops.CodeInternal, what+" is not built yet")
}

// CountText is what a text costs as the modem will send it.
func (s *Service) CountText(ctx context.Context, text string) ops.TextCount {
	return ops.TextCount{UCS2At: -1}
}

// InboxList lists received messages with the count of unhandled ones.
func (s *Service) InboxList(ctx context.Context, a ops.Actor, f ops.InboxFilter) (ops.Inbox, error) {
	return ops.Inbox{}, notBuilt("the inbox list")
}

// MarkHandled marks a received message handled (or not).
func (s *Service) MarkHandled(ctx context.Context, a ops.Actor, id int64, handled bool) error {
	return notBuilt("marking a reply handled")
}

// Reply queues a text to the sender of received message id.
func (s *Service) Reply(ctx context.Context, a ops.Actor, id int64, text string) (ops.SendResult, error) {
	return ops.SendResult{}, notBuilt("replying")
}

// Changes is signalled when the store changes.
func (s *Service) Changes() <-chan struct{} { return nil }

// Tokens creates, lists and revokes API tokens.
func (s *Service) Tokens(ctx context.Context, a ops.Actor, r ops.TokenRequest) ([]ops.Token, error) {
	return nil, notBuilt("API tokens")
}

// TokenActor finds the integration of a bearer token.
func (s *Service) TokenActor(ctx context.Context, secret, addr string) (ops.Actor, error) {
	return ops.Actor{}, ops.Errorf(ops.CodeNoSession, "API tokens are not built yet")
}
