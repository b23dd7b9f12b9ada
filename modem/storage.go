package modem

import (
	"context"
	"fmt"
)

// StorageWarnPercent is how full the message storage may get before the
// health check warns (once, until it drops below again): parts of
// concatenated messages and messages whose handler failed hold slots, and
// on a full SIM the network holds every new message back (24.011 memory
// capacity exceeded), a patient's STOP included.
const StorageWarnPercent = 80

// ParseCPMS parses the answer to AT+CPMS? (27.005 §3.2.2):
// "+CPMS: <mem1>,<used1>,<total1>,<mem2>,<used2>,<total2>,<mem3>,<used3>,<total3>".
// It returns the used and total slots of <mem3>, where received messages
// are stored, or of <mem1> when the modem gives only that.
func ParseCPMS(lines []string) (used, total int, err error) {
	for _, l := range lines {
		rest, ok := afterPrefix(l, "+CPMS:")
		if !ok {
			continue
		}
		f := splitParams(rest)
		i := 0
		if len(f) >= 9 {
			i = 6
		}
		if len(f) < i+3 {
			return 0, 0, fmt.Errorf("+CPMS: want 3 or 9 fields, got %d", len(f))
		}
		if used, err = atoiField(f[i+1]); err != nil {
			return 0, 0, fmt.Errorf("+CPMS used: %w", err)
		}
		if total, err = atoiField(f[i+2]); err != nil {
			return 0, 0, fmt.Errorf("+CPMS total: %w", err)
		}
		if used < 0 || total < 0 || used > total {
			return 0, 0, fmt.Errorf("+CPMS: %d used of %d", used, total)
		}
		return used, total, nil
	}
	return 0, 0, fmt.Errorf("no +CPMS line in the answer")
}

// checkStorage reads how full the message storage is (AT+CPMS?), records
// it in Health and warns once when it reaches StorageWarnPercent.
func (m *Modem) checkStorage(ctx context.Context, at *atEngine) {
	lines, err := at.Command(ctx, "AT+CPMS?", m.cfg.CommandTimeout)
	if err != nil {
		return
	}
	used, total, err := ParseCPMS(lines)
	if err != nil {
		m.log.Debug("modem: storage answer not understood", "err", err)
		return
	}
	full := total > 0 && used*100 >= total*StorageWarnPercent
	m.mu.Lock()
	m.health.StorageUsed, m.health.StorageTotal = used, total
	warn := full && !m.storageWarned
	m.storageWarned = full
	m.mu.Unlock()
	if warn {
		m.log.Warn("modem: message storage nearly full; when it is full the network holds new messages back, STOP replies included", "used", used, "total", total)
	}
}
