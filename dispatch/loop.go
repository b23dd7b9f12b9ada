package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/modem"
	"github.com/clinicsms/smsd/queue"
)

// Loop states shown in Status.
const (
	StateStarting    = "starting"
	StateWaitModem   = "waiting for modem"
	StateIdle        = "idle"
	StateSending     = "sending"
	StateRateLimited = "rate limited"
	StateDailyCap    = "daily cap reached"
	StateQuietHours  = "quiet hours"
	StateBackoff     = "backing off after a store error"
	StateQueueBusy   = "waiting: another process is dispatching from this queue"
	StateStopped     = "stopped"
)

// storeRetry is how long a loop waits after the store failed it before
// trying again (a locked or full database heals or the watchdog restarts us).
const storeRetry = 2 * time.Second

// errStopping ends a Send after the part in flight when the daemon stops.
var errStopping = errors.New("dispatch: stopping after the part in flight")

// errInterrupted: the drain deadline cut Send off in the middle of a part,
// which may or may not have gone out.
var errInterrupted = errors.New("dispatch: send interrupted by shutdown")

// errRecordFailed: a part went out but the store could not record it. The
// message is left in `sending` so that it becomes `uncertain` at the next
// start instead of being sent again.
var errRecordFailed = errors.New("dispatch: could not record an accepted part")

// loop is one modem's send loop and its state for Status.
type loop struct {
	d    *Dispatcher
	id   string
	m    *modem.Modem
	rate time.Duration // 0: no limit
	cap  int           // 0: no cap
	wake chan struct{} // cap 1: something may have become due
	log  *slog.Logger

	lastBeat   atomic.Int64 // unix nanoseconds of the last sign of progress
	busyLogged bool         // the loop's own: ErrBusy was logged once

	mu         sync.Mutex
	state      string
	until      time.Time // end of the current deferral, if any
	lastStart  time.Time // start of the last message (rate limit)
	day        string    // local date the counter below is for
	startedDay int       // messages started on day (daily cap)
	sent       int       // since Run: all parts accepted
	failed     int       // since Run: permanent failures
	retried    int       // since Run: transient failures sent back
	uncertain  int       // since Run: parts that may have gone out unconfirmed
	lastErr    string    // code of the last failure, never PHI
	stopped    bool
}

func (l *loop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *loop) beat(t time.Time) { l.lastBeat.Store(t.UnixNano()) }

func (l *loop) setState(s string, until time.Time) {
	l.mu.Lock()
	l.state, l.until = s, until
	l.mu.Unlock()
}

func (l *loop) setStopped(err error) {
	l.mu.Lock()
	l.stopped = true
	l.state = StateStopped
	l.lastErr = errorCode(err)
	l.mu.Unlock()
}

// run is the send loop: until ctx is done, wait for the modem, respect the
// limits, claim one due message and send it.
func (l *loop) run(ctx, sendCtx context.Context) {
	defer l.setState(StateStopped, time.Time{})
	for ctx.Err() == nil {
		now := l.d.now()
		l.beat(now)
		if !l.m.Ready() {
			l.setState(StateWaitModem, time.Time{})
			l.waitReady(ctx)
			continue
		}
		if until, why := l.deferral(now); !until.IsZero() {
			l.setState(why, until)
			l.sleepUntil(ctx, until, false)
			continue
		}
		// Not cancellable: a claim cut off half-way must not leave a row
		// `sending` that nobody sends; send releases it if ctx ended.
		msg, err := l.d.store.Claim(context.WithoutCancel(ctx), l.id)
		if errors.Is(err, queue.ErrBusy) {
			// Another smsd holds the queue's dispatcher lock; Claim takes
			// it over once that process is gone.
			if !l.busyLogged {
				l.log.Warn("another process is dispatching from this queue; waiting for it to stop", "err", err)
				l.busyLogged = true
			}
			l.setState(StateQueueBusy, now.Add(storeRetry))
			l.sleepUntil(ctx, now.Add(storeRetry), false)
			continue
		}
		l.busyLogged = false
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.log.Error("claiming from the queue failed; retrying", "err", err, "retry_in", storeRetry)
			l.setState(StateBackoff, now.Add(storeRetry))
			l.sleepUntil(ctx, now.Add(storeRetry), false)
			continue
		}
		if msg == nil {
			l.idle(ctx)
			continue
		}
		// More may be due: let the other modems of the pool look too.
		l.d.wakeAll(l)
		l.send(ctx, sendCtx, msg)
	}
}

// deferral says whether the loop must hold off claiming, until when and why:
// quiet hours, the daily cap, the rate limit.
func (l *loop) deferral(now time.Time) (time.Time, string) {
	if q := l.d.quiet; q != nil {
		if end, in := q.Active(now, l.d.loc); in {
			return end, StateQuietHours
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cap > 0 {
		day := now.In(l.d.loc).Format(time.DateOnly)
		if day != l.day {
			l.day, l.startedDay = day, 0
		}
		if l.startedDay >= l.cap {
			return nextMidnight(now, l.d.loc), StateDailyCap
		}
	}
	if l.rate > 0 && !l.lastStart.IsZero() {
		if next := l.lastStart.Add(l.rate); next.After(now) {
			return next, StateRateLimited
		}
	}
	return time.Time{}, ""
}

// countStart charges one message against the rate limit and the daily cap.
func (l *loop) countStart(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastStart = now
	day := now.In(l.d.loc).Format(time.DateOnly)
	if day != l.day {
		l.day, l.startedDay = day, 0
	}
	l.startedDay++
}

// loadToday restores the daily-cap counter from the store, so that a
// restart does not hand a modem a fresh day's allowance.
func (l *loop) loadToday(ctx context.Context) {
	if l.cap <= 0 {
		return
	}
	now := l.d.now()
	n, err := l.d.startedSince(ctx, l.id, midnight(now, l.d.loc))
	if err != nil {
		l.log.Warn("could not count today's messages for the daily cap; counting from zero", "err", err)
		return
	}
	l.mu.Lock()
	l.day, l.startedDay = now.In(l.d.loc).Format(time.DateOnly), n
	l.mu.Unlock()
}

// waitReady blocks until the modem is ready or ctx is done, beating.
func (l *loop) waitReady(ctx context.Context) {
	for ctx.Err() == nil {
		wctx, cancel := context.WithTimeout(ctx, l.d.beatEvery)
		err := l.m.WaitReady(wctx)
		waited := wctx.Err() != nil // the beat interval passed, or ctx ended
		cancel()
		l.beat(l.d.now())
		if err == nil && l.m.Ready() {
			return
		}
		if err != nil && !waited {
			// The modem stopped for good (Run reports it and ends this
			// loop); don't spin meanwhile.
			l.sleepUntil(ctx, l.d.now().Add(l.d.beatEvery), false)
		}
	}
}

// sleepUntil waits until t or ctx is done; if wakeable, a poke ends it too.
func (l *loop) sleepUntil(ctx context.Context, t time.Time, wakeable bool) {
	var wake <-chan struct{}
	if wakeable {
		wake = l.wake
	}
	for {
		d := t.Sub(l.d.now())
		if d <= 0 {
			return
		}
		timer := time.NewTimer(min(d, l.d.beatEvery))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-wake:
			timer.Stop()
			return
		case <-timer.C:
			l.beat(l.d.now())
		}
	}
}

// idle waits for something to become due: an enqueue (poke), the next
// scheduled time, or at the latest a minute (in case a wake-up was missed,
// e.g. a message requeued by another process).
func (l *loop) idle(ctx context.Context) {
	now := l.d.now()
	until := now.Add(time.Minute)
	next, ok, err := l.d.store.NextDue(ctx)
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return
		}
		l.log.Error("asking the queue for the next due message failed", "err", err)
		until = now.Add(storeRetry)
	case ok && next.Before(until):
		until = next
		// Claim found nothing although something is due: a race with another
		// loop or a row Claim will not take. Don't spin on it.
		if !until.After(now) {
			until = now.Add(250 * time.Millisecond)
		}
	}
	l.setState(StateIdle, time.Time{})
	l.sleepUntil(ctx, until, true)
}

// send sends one claimed message and records the outcome. ctx ending means
// "stop after the part in flight"; sendCtx ending means "stop now".
func (l *loop) send(ctx, sendCtx context.Context, msg *queue.Message) {
	// Bookkeeping must happen even while shutting down.
	bg := context.WithoutCancel(ctx)
	log := l.log.With("id", msg.ID, "to", mask.Log(msg.To))
	l.setState(StateSending, time.Time{})
	if ctx.Err() != nil {
		// Stopping between the claim and the first byte: nothing went out.
		l.release(bg, log, msg.ID)
		return
	}

	if msg.PartsTotal > 0 && len(msg.PartsAccepted) >= msg.PartsTotal {
		// Every part went out before a crash, only MarkSent was missing.
		log.Info("all parts were accepted before; marking sent", "parts", msg.PartsTotal)
		l.finish(bg, log, msg, nil, 0, false)
		return
	}
	// Opt-outs that came after the enqueue are caught by Claim itself.
	l.countStart(l.d.now())
	newParts := 0
	// marked: the last part was recorded together with the move to sent
	// (RecordLastPart), so finish has nothing more to write.
	marked := false
	accepted := func(seq, total, mr int) error {
		if mr < 0 {
			// The modem said OK without a TP-MR: the part is out, but its
			// status report cannot be matched. The store takes 0..255 only.
			log.Warn("part accepted without a message reference; its delivery report cannot be matched", "part", seq)
			mr = 0
		}
		if len(msg.PartsAccepted)+newParts+1 == total && l.d.store.RecordLastPart(bg, msg.ID, seq, total, mr) == nil {
			marked = true
		} else if err := l.recordPart(bg, msg.ID, seq, total, mr); err != nil {
			// A failed RecordLastPart wrote nothing: the part is recorded
			// the usual way and MarkSent follows in finish.
			log.Error("a part went out but recording it failed; the message becomes uncertain rather than risk sending the part twice",
				"part", seq, "of", total, "err", err)
			return errRecordFailed
		}
		newParts++
		l.beat(l.d.now())
		log.Debug("part accepted", "part", seq, "of", total, "mr", mr)
		if ctx.Err() != nil && seq < total {
			return errStopping
		}
		return nil
	}
	out := modem.Outgoing{
		To:        msg.To,
		Text:      msg.Text,
		Reference: msg.Reference,
		Skip:      append([]int(nil), msg.PartsAccepted...),
	}
	start := l.d.now()
	err := l.m.Send(sendCtx, out, accepted)
	log.Debug("send returned", "took", l.d.now().Sub(start), "new_parts", newParts, "err", err != nil)
	if err != nil && sendCtx.Err() != nil && !errors.Is(err, errStopping) && !errors.Is(err, errRecordFailed) {
		if !mayHaveSent(err) {
			// Cut off before the PDU was written: like stopping between
			// parts.
			err = errStopping
		} else {
			err = errInterrupted
		}
	}
	if marked && err != nil {
		// Every part was accepted and the message is sent in the store;
		// whatever Send said after the last part changes nothing of that.
		log.Warn("send reported an error after its last part was accepted; the message is sent", "err", err)
		err = nil
	}
	l.finish(bg, log, msg, err, newParts, marked)
}

// recordPart stores one accepted part, retrying a few times: a part that
// went out and is not recorded could be sent twice.
func (l *loop) recordPart(ctx context.Context, id int64, seq, total, mr int) error {
	var err error
	for try := range 3 {
		if try > 0 {
			time.Sleep(time.Duration(try) * 100 * time.Millisecond)
		}
		if err = l.d.store.RecordPart(ctx, id, seq, total, mr); err == nil {
			return nil
		}
	}
	return err
}

// finish records the outcome of Send. marked: the store has the message
// as sent already (RecordLastPart).
func (l *loop) finish(ctx context.Context, log *slog.Logger, msg *queue.Message, err error, newParts int, marked bool) {
	prior := len(msg.PartsAccepted)
	switch {
	case err == nil:
		if !marked {
			if e := l.d.store.MarkSent(ctx, msg.ID); e != nil {
				log.Error("message went out but marking it sent failed (it becomes uncertain at the next start)", "err", e)
				l.noteErr("store_mark_sent")
				return
			}
		}
		l.mu.Lock()
		l.sent++
		l.mu.Unlock()
		log.Info("sent")
	case errors.Is(err, errRecordFailed):
		// A part went out that the store could not record: resending it
		// could deliver it twice.
		l.uncertainNow(ctx, log, msg.ID, "store_record_part")
	case errors.Is(err, errStopping):
		// Stopped between parts (or before the part in flight was
		// written): the accepted ones are recorded; the rest goes out, with
		// the same reference, after the restart.
		log.Info("stopping; the rest of the message is sent after the restart", "parts_accepted", prior+newParts)
		l.release(ctx, log, msg.ID)
	case errors.Is(err, errInterrupted):
		// The drain deadline cut a part off mid-command: it may or may not
		// have gone out. Staff decide, rather than sending it twice.
		log.Warn("stopped in the middle of a part; the message is uncertain", "parts_accepted", prior+newParts)
		l.uncertainNow(ctx, log, msg.ID, "interrupted: smsd stopped while sending")
	case mayHaveSent(err):
		// The part was (or may have been) handed to the modem when the
		// answer was lost: sending it again could deliver it twice. Staff
		// decide (resend or dismiss).
		code := errorCode(err)
		log.Warn("the part in flight may have gone out but was not confirmed; not retrying it (uncertain)", "code", code, "parts_accepted", prior+newParts)
		l.uncertainNow(ctx, log, msg.ID, "maybe_sent: "+code)
	case modem.IsTransient(err):
		code := errorCode(err)
		l.noteErr(code)
		if newParts == 0 && !l.m.Ready() {
			// The modem went away before this message got anywhere:
			// another modem (or this one, once back) takes it, and it
			// costs no attempt.
			log.Warn("modem not available; message goes back to the queue", "code", code)
			l.release(ctx, log, msg.ID)
			return
		}
		log.Warn("transient send failure; retrying later", "code", code, "parts_accepted", prior+newParts)
		if e := l.d.store.MarkRetry(ctx, msg.ID, code); e != nil {
			log.Error("recording the retry failed", "err", e)
			return
		}
		l.mu.Lock()
		l.retried++
		l.mu.Unlock()
	default:
		code := errorCode(err)
		if prior+newParts > 0 {
			code = fmt.Sprintf("%s after %d parts", code, prior+newParts)
		}
		log.Warn("permanent send failure", "code", code)
		l.markFailed(ctx, log, msg.ID, code)
	}
}

// uncertainNow marks a message whose part in flight may have gone out. If
// even that fails, the message stays `sending` and the next start of the
// store makes it uncertain.
func (l *loop) uncertainNow(ctx context.Context, log *slog.Logger, id int64, code string) {
	l.mu.Lock()
	l.uncertain++
	l.lastErr = code
	l.mu.Unlock()
	if err := l.d.store.MarkUncertain(ctx, id, code); err != nil {
		log.Error("marking the message uncertain failed; it stays sending until the next start", "err", err)
	}
}

func (l *loop) release(ctx context.Context, log *slog.Logger, id int64) {
	if err := l.d.store.Release(ctx, id); err != nil {
		log.Error("releasing the message back to the queue failed (it becomes uncertain at the next start)", "err", err)
	}
}

func (l *loop) markFailed(ctx context.Context, log *slog.Logger, id int64, code string) {
	l.noteErr(code)
	if err := l.d.store.MarkFailed(ctx, id, code); err != nil {
		log.Error("marking the message failed did not work", "err", err)
		return
	}
	l.mu.Lock()
	l.failed++
	l.mu.Unlock()
}

func (l *loop) noteErr(code string) {
	l.mu.Lock()
	l.lastErr = code
	l.mu.Unlock()
}

// mayHaveSent reports whether a failed Send may have handed the part in
// flight to the network. The modem says so precisely (modem.Error.Uncertain:
// the PDU was written but no answer came); an error of another kind counts
// as "may have" unless it says the modem was not ready, because guessing
// wrong that way sends a message twice.
func mayHaveSent(err error) bool {
	var me *modem.Error
	if errors.As(err, &me) {
		return me.Uncertain
	}
	return !errors.Is(err, modem.ErrNotReady)
}

// errorCode turns a send error into a short code for the store and logs:
// the modem's +CMS/+CME number or the failing operation, never text that
// could carry a number or a message.
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	var me *modem.Error
	switch {
	case errors.Is(err, modem.ErrTooManyParts):
		return "too_many_parts"
	case errors.Is(err, modem.ErrInvalidNumber):
		return "invalid_number"
	case errors.As(err, &me):
		switch {
		case me.CMS >= 0:
			return fmt.Sprintf("cms_%d", me.CMS)
		case me.CME >= 0:
			return fmt.Sprintf("cme_%d", me.CME)
		case errors.Is(err, modem.ErrNotReady):
			return "modem_not_ready"
		case errors.Is(err, context.DeadlineExceeded):
			return "modem_timeout"
		case me.Op != "":
			return "modem_" + me.Op
		}
	case errors.Is(err, modem.ErrNotReady):
		return "modem_not_ready"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "send_error"
}
