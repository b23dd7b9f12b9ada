package queue

import (
	"context"
	"time"
)

// ReminderCounts is one period's reminders and answers, counted from clear
// columns only (no sealed cell is opened).
type ReminderCounts struct {
	// Reminders due to go out in the period (send_at), by state.
	ByState map[State]int
	// Answers given in the period (answered_at), by answer.
	Answers map[string]int
}

// Sent is how many went out: sent, delivered or undelivered.
func (c ReminderCounts) Sent() int {
	return c.ByState[Sent] + c.ByState[Delivered] + c.ByState[Undelivered]
}

// Failed is how many did not reach the handset: failed or undelivered.
func (c ReminderCounts) Failed() int { return c.ByState[Failed] + c.ByState[Undelivered] }

// Pending is how many still wait: queued, being sent, or uncertain (a
// staff decision pending).
func (c ReminderCounts) Pending() int {
	return c.ByState[Queued] + c.ByState[Sending] + c.ByState[Uncertain]
}

// Period is [From, To).
type Period struct{ From, To time.Time }

// ReminderReport counts the reminders and answers of each period, in one
// read snapshot. A reminder counts in the period its send_at (when it was
// due to go out, after quiet hours) falls in; an answer in the period it
// came in. Both counts read an index alone (messages_reminders,
// appointments_answered), so a year of history costs what a day does.
func (s *Store) ReminderReport(ctx context.Context, periods []Period) ([]ReminderCounts, error) {
	out := make([]ReminderCounts, len(periods))
	err := s.inSnapshot(ctx, s.r, func(q querier) error {
		for i, p := range periods {
			c := ReminderCounts{ByState: map[State]int{}, Answers: map[string]int{}}
			rows, err := q.QueryContext(ctx, `SELECT state, COUNT(*) FROM messages INDEXED BY messages_reminders
				WHERE appointment_id IS NOT NULL AND send_at >= ? AND send_at < ? GROUP BY state`, ms(p.From), ms(p.To))
			if err != nil {
				return err
			}
			for rows.Next() {
				var st string
				var n int
				if err := rows.Scan(&st, &n); err != nil {
					rows.Close()
					return err
				}
				c.ByState[State(st)] = n
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			rows, err = q.QueryContext(ctx, `SELECT answer, COUNT(*) FROM appointments INDEXED BY appointments_answered
				WHERE answered_at > 0 AND answered_at >= ? AND answered_at < ? GROUP BY answer`, ms(p.From), ms(p.To))
			if err != nil {
				return err
			}
			for rows.Next() {
				var a string
				var n int
				if err := rows.Scan(&a, &n); err != nil {
					rows.Close()
					return err
				}
				c.Answers[a] = n
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			out[i] = c
		}
		return nil
	})
	return out, err
}
