package userdrv

// Misuse that must fail cleanly: a batch with a job that cannot be submitted,
// and manual reaping racing with or following Close.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/accelq/accelq/ring"
)

func TestSubmitBatchRefusedJobLeavesOthersIdle(t *testing.T) {
	d := openTest(t, "ideal")
	q := newQueue(t, d, WithDepth(16))
	src, dst := alloc(t, d, 64), alloc(t, d, 32)
	good := &Job{Op: ring.OpSHA256, Src: All(src), Dst: All(dst)}
	if n, err := q.SubmitBatch([]*Job{good, good}); !errors.Is(err, ErrInFlight) || n != 0 {
		t.Fatalf("a batch naming one job twice: %d accepted, %v", n, err)
	}
	if got := src.users.Load(); got != 1 {
		t.Fatalf("the refused batch left %d users on its buffer, want the owner alone", got)
	}
	if err := q.Submit(good); err != nil {
		t.Fatalf("the job of a refused batch cannot be submitted again: %v", err)
	}
	if err := good.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestManualReapAndClose(t *testing.T) {
	d := openTest(t, "ideal")
	q, err := d.NewQueue(WithDepth(16), WithReap(ReapManual))
	if err != nil {
		t.Fatal(err)
	}
	reaping := make(chan error, 1)
	go func() {
		_, err := q.Reap(-1) // sleeps: nothing was submitted
		reaping <- err
	}()
	time.Sleep(20 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- q.Close() }()
	for _, ch := range []chan error{closed, reaping} {
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Fatal("Close and a blocking Reap wait for each other: hang detector fired")
		}
	}
	if _, err := q.Reap(time.Millisecond); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reap after Close: %v, want ErrClosed", err)
	}
}
