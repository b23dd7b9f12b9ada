package daemon

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// GuardProcess makes this process non-dumpable (prctl PR_SET_DUMPABLE 0)
// before it loads a key: the kernel then writes no core file of it, and no
// other process of the same user (a shell as smsd, the backup service, a
// compromised helper) may ptrace it or read its memory or environment
// (/proc/PID/mem, /proc/PID/environ become root's): the data key lives in
// that memory while smsd runs. The unit's LimitCORE=0 covers the daemon
// only; this covers every smsd command that opens the store. Root keeps
// access, as it has to the key file anyway.
func GuardProcess() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("make the process non-dumpable (prctl PR_SET_DUMPABLE): %w", err)
	}
	return nil
}
