package sim

// A client for one queue pair of a device under test: it submits SQEs and reaps
// CQEs the way the client library does, through the same rings.

import (
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

type harness struct {
	t     testing.TB
	dev   *Device
	space *testSpace
	q     device.Queue
	sq    *ring.Producer
	cq    *ring.Consumer
	buf   []byte
}

const allClasses = 1<<ring.ClassSymmetric | 1<<ring.ClassAsymmetric | 1<<ring.ClassCompression

func startDevice(t testing.TB, profile string, opts ...Option) *Device {
	t.Helper()
	p, err := LoadProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// queueConfig returns a queue configuration over new, initialised rings of
// depth entries and a fresh address space.
func queueConfig(t testing.TB, depth int) device.QueueConfig {
	t.Helper()
	sqg := ring.Geometry{Entries: depth, EntrySize: ring.SQESize}
	cqg := ring.Geometry{Entries: depth, EntrySize: ring.CQESize}
	sqm, cqm := ring.Alloc(sqg), ring.Alloc(cqg)
	if err := ring.Init(sqm, sqg); err != nil {
		t.Fatal(err)
	}
	if err := ring.Init(cqm, cqg); err != nil {
		t.Fatal(err)
	}
	return device.QueueConfig{SQ: sqm, CQ: cqm, Space: newTestSpace(), Classes: allClasses, Weight: 1}
}

func newHarness(t testing.TB, d *Device, depth int, mod func(*device.QueueConfig)) *harness {
	t.Helper()
	cfg := queueConfig(t, depth)
	sqm, cqm := cfg.SQ, cfg.CQ
	h := &harness{t: t, dev: d, space: cfg.Space.(*testSpace), buf: make([]byte, depth*ring.CQESize)}
	if mod != nil {
		mod(&cfg)
	}
	q, err := d.CreateQueue(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.q = q
	if h.sq, err = ring.NewProducer(sqm); err != nil {
		t.Fatal(err)
	}
	// A duplicate, as a client in another process holds: the device closes its
	// own descriptor when the queue is destroyed.
	bell, err := q.Doorbell().Dup()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bell.Close() })
	h.sq.SetNotifier(bell)
	if h.cq, err = ring.NewConsumer(cqm); err != nil {
		t.Fatal(err)
	}
	return h
}

// submit pushes every SQE, waiting for room when the ring is full.
func (h *harness) submit(sqes ...ring.SQE) {
	h.t.Helper()
	for i := range sqes {
		for {
			n, err := h.sq.Reserve(1)
			if err != nil {
				h.t.Fatal(err)
			}
			if n == 1 {
				break
			}
			time.Sleep(10 * time.Microsecond)
		}
		if err := sqes[i].Encode(h.sq.Entry(0)); err != nil {
			h.t.Fatal(err)
		}
		h.sq.Commit(1)
		if _, err := h.sq.Wake(); err != nil {
			h.t.Fatal(err)
		}
	}
}

// reap waits for n completions; the timeout is a hang detector.
func (h *harness) reap(n int) []ring.CQE {
	h.t.Helper()
	out := make([]ring.CQE, 0, n)
	deadline := time.Now().Add(60 * time.Second)
	for len(out) < n {
		if _, err := h.cq.Wait(1000, 50*time.Millisecond); err != nil {
			h.t.Fatal(err)
		}
		got, err := h.cq.Pop(h.buf[:min(n-len(out), len(h.buf)/ring.CQESize)*ring.CQESize])
		if err != nil {
			h.t.Fatal(err)
		}
		for i := 0; i < got; i++ {
			var c ring.CQE
			if err := c.Decode(h.buf[i*ring.CQESize:]); err != nil {
				h.t.Fatal(err)
			}
			out = append(out, c)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("reaped %d of %d completions before the hang detector fired", len(out), n)
		}
	}
	return out
}

// run submits one SQE and returns its CQE.
func (h *harness) run(s ring.SQE) ring.CQE {
	h.t.Helper()
	h.submit(s)
	return h.reap(1)[0]
}

// region registers a fresh buffer of n bytes and returns its handle and memory.
func (h *harness) region(n int, writable bool) (uint32, []byte) {
	mem := make([]byte, n)
	return h.space.addRegion(mem, writable), mem
}
