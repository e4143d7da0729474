//go:build race

package ring

import "sync/atomic"

// fenceWord is the target of the read-modify-write that serves as a fence.
var fenceWord uint32

// fence orders the producer's tail store before its load of the flags word.
// Under the race detector Go's atomic stores have only release ordering (the
// detector's runtime implements them as plain stores on amd64), so a load after
// one may pass it and a NEED_WAKEUP set in between goes unseen: a lost wake-up.
// A locked read-modify-write is a full barrier.
func fence() { atomic.AddUint32(&fenceWord, 0) }
