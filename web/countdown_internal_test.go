package web

import (
	"testing"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// TestCountdown: the header's first text, before app.js counts.
func TestCountdown(t *testing.T) {
	for _, tc := range []struct {
		left time.Duration
		want string
	}{
		{10 * time.Minute, "Signs out in 10:00"},
		{9*time.Minute + 59*time.Second + 400*time.Millisecond, "Signs out in 9:59"},
		{61 * time.Second, "Signs out in 1:01"},
		{500 * time.Millisecond, "Signs out in 0:01"},
		{0, "Signs out in 0:00"},
		{-time.Minute, "Signs out in 0:00"},
	} {
		if got := countdown(tc.left); got != tc.want {
			t.Errorf("countdown(%v) = %q, want %q", tc.left, got, tc.want)
		}
	}
}

// TestStagePath: each unfinished stage has its one page.
func TestStagePath(t *testing.T) {
	for stage, want := range map[string]string{
		ops.StageActive:         "/",
		ops.StageTOTP:           "/signin/totp",
		ops.StageEnrolTOTP:      "/account/totp",
		ops.StageChangePassword: "/account/password",
	} {
		if got := stagePath(stage); got != want {
			t.Errorf("stagePath(%q) = %q, want %q", stage, got, want)
		}
	}
}
