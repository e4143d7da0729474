// Package hostilefd does to shared descriptors what a hostile client can, for
// the tests of every layer that must survive it.
package hostilefd

import (
	"encoding/binary"
	"syscall"
	"testing"
)

// StealWakeups makes the eventfd fd blocking, which changes the file
// description the device shares, and reads it in a loop until the test ends:
// the worst a client can do to its doorbell. fd must stay open until then.
func StealWakeups(tb testing.TB, fd int) {
	tb.Helper()
	if err := syscall.SetNonblock(fd, false); err != nil {
		tb.Fatal(err)
	}
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var b [8]byte
		for {
			select {
			case <-stop:
				return
			default:
				syscall.Read(fd, b[:])
			}
		}
	}()
	tb.Cleanup(func() {
		close(stop)
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		syscall.Write(fd, one[:]) // let the last blocking read return
		<-stopped
	})
}
