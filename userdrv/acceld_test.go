package userdrv

// A real acceld process for cross-process tests and benchmarks, built once per
// test binary.

import (
	"testing"

	"github.com/accelq/accelq/internal/testutil"
)

type daemon = testutil.Daemon

// startDaemon starts acceld with args and waits until it accepts connections.
func startDaemon(t testing.TB, args ...string) *daemon {
	t.Helper()
	return testutil.StartAcceld(t, args...)
}
