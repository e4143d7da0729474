package ring

import (
	"testing"
	"time"
)

// TestLocalNotifier: a notification before the wait is kept, notifications
// merge, and a wait with nothing pending ends at its timeout, repeatedly.
func TestLocalNotifier(t *testing.T) {
	n := NewLocalNotifier()
	n.Notify()
	n.Notify()
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Wait(nil, -1) // the pending notification: no sleep
		for i := 0; i < 3; i++ {
			n.Wait(nil, time.Millisecond) // merged: nothing pending, so each times out
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a LocalNotifier wait did not end")
	}
	woke := make(chan struct{})
	go func() { n.Wait(nil, -1); close(woke) }()
	time.Sleep(time.Millisecond)
	n.Notify()
	select {
	case <-woke:
	case <-time.After(30 * time.Second):
		t.Fatal("Notify did not wake a waiter")
	}
}
