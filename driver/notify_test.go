package driver

import (
	"encoding/binary"
	"syscall"
	"testing"
	"time"

	"github.com/accelq/accelq/ring"
)

// clientEventFD returns an eventfd as a client holds it and the daemon's
// notifier on a second descriptor of the same file, as SCM_RIGHTS would give.
func clientEventFD(t *testing.T) (*ring.EventNotifier, *clientNotifier) {
	t.Helper()
	client, err := ring.NewEventNotifier()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	daemon, err := client.Dup()
	if err != nil {
		t.Fatal(err)
	}
	return client, newClientNotifier(daemon)
}

func counter(t *testing.T, e *ring.EventNotifier) uint64 {
	t.Helper()
	var b [8]byte
	if _, err := syscall.Read(e.FD(), b[:]); err == syscall.EAGAIN {
		return 0
	} else if err != nil {
		t.Fatal(err)
	}
	return binary.NativeEndian.Uint64(b[:])
}

func waitDone(t *testing.T, n *clientNotifier) {
	t.Helper()
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		t.Fatal("notifier goroutine still running 10 s after Close: hang detector fired")
	}
}

// TestClientNotifierLastWakeup: a wake-up asked for just before Close, for a
// queue's last completions, reaches the client.
func TestClientNotifierLastWakeup(t *testing.T) {
	for i := range 1000 {
		client, n := clientEventFD(t)
		n.Notify()
		n.Close()
		waitDone(t, n)
		if c := counter(t, client); c != 1 {
			t.Fatalf("round %d: counter %d after Notify and Close, want 1", i, c)
		}
		client.Close()
	}
}

// TestClientNotifierWedged: a client that clears O_NONBLOCK on its completion
// eventfd and fills the counter wedges the notifier's write, not Notify's
// caller; Close returns at once and the goroutine exits after unwedging it.
func TestClientNotifierWedged(t *testing.T) {
	client, n := clientEventFD(t)
	if err := syscall.SetNonblock(client.FD(), false); err != nil {
		t.Fatal(err)
	}
	var full [8]byte
	binary.NativeEndian.PutUint64(full[:], 1<<64-2)
	if _, err := syscall.Write(client.FD(), full[:]); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		n.Notify() // must not block
	}
	for !n.writing.Load() { // the goroutine reached its write
		time.Sleep(100 * time.Microsecond)
	}
	time.Sleep(5 * time.Millisecond)
	select {
	case <-n.done:
		t.Fatal("the write to a full blocking eventfd returned")
	default:
	}
	n.Close()
	waitDone(t, n)
}
