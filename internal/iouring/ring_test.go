package iouring

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// newRing creates a ring for a test, skipping with the kernel's reason where
// io_uring is refused: a sandbox without io_uring is not a failure of this
// package.
func newRing(tb testing.TB, entries uint32) *Ring {
	tb.Helper()
	r, err := New(entries)
	if errors.Is(err, ErrUnavailable) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := r.Close(); err != nil {
			tb.Error(err)
		}
	})
	return r
}

func TestNop(t *testing.T) {
	const total = 1000
	for _, batch := range []int{1, 8, 32} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			r := newRing(t, uint32(batch))
			if r.Entries() < uint32(batch) {
				t.Fatalf("Entries() = %d, want at least %d", r.Entries(), batch)
			}
			start := r.seq
			for done := 0; done < total; done += batch {
				k := min(batch, total-done)
				if err := r.NopBatch(k); err != nil {
					t.Fatalf("after %d NOPs: %v", done, err)
				}
			}
			if n := r.seq - start; n != total {
				t.Errorf("handed out %d user_data values, want %d", n, total)
			}
			// Every NOP was submitted and reaped: nothing is left in either
			// ring for the kernel or for us.
			if h, tl := atomic.LoadUint32(r.sqHead), atomic.LoadUint32(r.sqTail); h != tl || tl != r.sqTl {
				t.Errorf("SQ head %d, tail %d, our tail %d", h, tl, r.sqTl)
			}
			if h, tl := atomic.LoadUint32(r.cqHead), atomic.LoadUint32(r.cqTail); h != tl || tl != r.sqTl {
				t.Errorf("CQ head %d, tail %d, want both %d", h, tl, r.sqTl)
			}
		})
	}
}

// TestUserData checks that the kernel hands back each NOP's user_data whole:
// the only way a completion is matched to its request.
func TestUserData(t *testing.T) {
	r := newRing(t, 8)
	batches := [][]uint64{
		{0},
		{math.MaxUint64},
		{1 << 63, 1<<32 - 1, 1 << 32, 0xdeadbeefcafef00d},
		{7, 6, 5, 4, 3, 2, 1, 0},
	}
	for _, ud := range batches {
		if err := r.nops(ud); err != nil {
			t.Fatalf("nops(%#x): %v", ud, err)
		}
		for i, c := range r.got[:len(ud)] {
			if c != ud[i] {
				t.Errorf("NOP %d of %#x: completion user_data %#x, want %#x", i, ud, c, ud[i])
			}
		}
	}
}

func TestRun(t *testing.T) {
	for _, c := range []struct{ batch, total int }{{1, 10}, {8, 100}, {32, 1000}, {5, 7}, {3, 0}} {
		el, err := Run(c.batch, c.total)
		if errors.Is(err, ErrUnavailable) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatalf("Run(%d, %d): %v", c.batch, c.total, err)
		}
		if el < 0 {
			t.Errorf("Run(%d, %d) took %v", c.batch, c.total, el)
		}
	}
}

func TestBadArguments(t *testing.T) {
	for _, n := range []uint32{0, maxEntries + 1} {
		if r, err := New(n); err == nil {
			r.Close()
			t.Errorf("New(%d) succeeded", n)
		} else if errors.Is(err, ErrUnavailable) {
			t.Errorf("New(%d): %v wraps ErrUnavailable, but the request was the problem", n, err)
		}
	}
	r := newRing(t, 4)
	for _, k := range []int{0, -1, int(r.Entries()) + 1} {
		if err := r.NopBatch(k); err == nil {
			t.Errorf("NopBatch(%d) succeeded on a ring of %d", k, r.Entries())
		}
	}
	// A rejected batch must leave the ring usable.
	if err := r.NopBatch(int(r.Entries())); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.NopBatch(1); err == nil {
		t.Error("NopBatch after Close succeeded")
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestSameSet checks the out-of-order path of the completion check, which a
// kernel completing NOPs in order never takes.
func TestSameSet(t *testing.T) {
	for _, c := range []struct {
		got, ud []uint64
		ok      bool
	}{
		{[]uint64{3, 1, 2}, []uint64{1, 2, 3}, true},
		{[]uint64{1<<63 | 1, 1 << 63}, []uint64{1 << 63, 1<<63 | 1}, true},
		{[]uint64{1, 1, 2}, []uint64{1, 2, 3}, false},
		{[]uint64{1, 2, 4}, []uint64{1, 2, 3}, false},
	} {
		got := append([]uint64(nil), c.got...)
		err := sameSet(got, c.ud, make([]uint64, len(c.ud)))
		if (err == nil) != c.ok {
			t.Errorf("sameSet(%v, %v) = %v, want ok=%v", c.got, c.ud, err, c.ok)
		}
	}
}

// TestUnavailableError checks that the error a skipping caller prints names
// the errno and wraps both it and the sentinel, and that a request the kernel
// rejects as malformed is not mistaken for io_uring being unavailable.
func TestUnavailableError(t *testing.T) {
	for _, errno := range []syscall.Errno{unix.ENOSYS, unix.EPERM, unix.EACCES, unix.ENOMEM} {
		err := setupError(errno)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errno) || !strings.Contains(err.Error(), unix.ErrnoName(errno)) {
			t.Errorf("setupError(%s) = %q, want it to wrap ErrUnavailable and the errno and name it", unix.ErrnoName(errno), err)
		}
	}
	if err := setupError(unix.EINVAL); errors.Is(err, ErrUnavailable) || !errors.Is(err, unix.EINVAL) {
		t.Errorf("setupError(EINVAL) = %q, want the errno without ErrUnavailable", err)
	}
}
