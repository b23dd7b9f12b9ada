// Package version is the build's version, set at link time:
//
//	go build -ldflags "-X github.com/clinicsms/smsd/internal/version.Version=1.2.3"
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the release, "dev" for a build from a work tree.
var Version = "dev"

// String is the version line `smsd version` prints: release, the source
// commit when the build recorded one, Go version and platform.
func String() string {
	commit := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				commit = " " + s.Value[:12]
			}
		}
	}
	return "smsd " + Version + commit + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
