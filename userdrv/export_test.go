package userdrv

import "time"

// setReapBound sets how long reapers sleep before they look at the device,
// until the returned function restores it. Queues created meanwhile use it.
func setReapBound(d time.Duration) (restore func()) {
	old := reapBound.Swap(int64(d))
	return func() { reapBound.Store(old) }
}
