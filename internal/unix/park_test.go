package unix

import (
	"testing"
	"time"
)

func TestEventFDWaitWakes(t *testing.T) {
	e, err := NewEventFD()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for i := 0; i < 100; i++ {
		done := make(chan error, 1)
		go func() { done <- e.Wait(-1) }()
		if err := e.Signal(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a signalled eventfd did not wake its waiter")
		}
	}
}

func TestEventFDWaitConsumes(t *testing.T) {
	e, err := NewEventFD()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Signal()
	e.Signal()
	if err := e.Wait(-1); err != nil { // the counter is non-zero: no sleep
		t.Fatal(err)
	}
	// The counter was reset: the next wait sleeps until its timeout.
	t0 := time.Now()
	if err := e.Wait(20 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if time.Since(t0) < 15*time.Millisecond {
		t.Fatalf("Wait returned after %v on a drained eventfd", time.Since(t0))
	}
}

func TestEventFDCloseWakesWaiter(t *testing.T) {
	e, err := NewEventFD()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Wait(-1) }()
	time.Sleep(10 * time.Millisecond)
	e.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Wait on a closed eventfd returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the waiter")
	}
	if err := e.Wait(0); err == nil {
		t.Fatal("Wait after Close returned no error")
	}
}

func TestPollerWakesOnAnyEventFD(t *testing.T) {
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var efds []*EventFD
	for i := 0; i < 4; i++ {
		e, err := NewEventFD()
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		if err := p.Add(e.FD()); err != nil {
			t.Fatal(err)
		}
		efds = append(efds, e)
	}
	for round := 0; round < 200; round++ {
		done := make(chan error, 1)
		go func() { done <- p.Wait(-1) }()
		// Never read: an edge-triggered watch wakes on every write, whatever
		// the counter already holds.
		efds[round%len(efds)].Signal()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: a write to a watched eventfd did not wake the poller", round)
		}
	}
	// With every edge consumed, a wait sleeps to its timeout.
	t0 := time.Now()
	if err := p.Wait(20 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if time.Since(t0) < 15*time.Millisecond {
		t.Fatalf("Wait returned after %v with no edge pending", time.Since(t0))
	}
}
