package ring

// Attach racing a hostile peer. ReadGeometry validates a copy of the header,
// then NewConsumer/NewProducer load the indices they will use; a peer that
// rewrites an index in between must not slip an impossible value past the
// check (before the fix this made Peek slice past the ring and panic, and
// Reserve grant entries in a full ring).

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// flipWord keeps rewriting the word at off between good and bad until stop.
func flipWord(mem []byte, off int, good, bad uint32, stop *atomic.Bool, wg *sync.WaitGroup) {
	defer wg.Done()
	w := word(mem, off)
	for i := 0; !stop.Load(); i++ {
		atomic.StoreUint32(w, good)
		atomic.StoreUint32(w, bad)
		if i%4096 == 0 {
			runtime.Gosched() // leave the attaching goroutine a P on one core
		}
	}
	atomic.StoreUint32(w, good)
}

func attachIterations() int {
	if testing.Short() || raceEnabled {
		return 10_000
	}
	return 50_000
}

func TestConsumerAttachRacingHostileTail(t *testing.T) {
	const entries, esz = 8, 8
	g := Geometry{Entries: entries, EntrySize: esz}
	mem := Alloc(g)
	if err := Init(mem, g); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go flipWord(mem, offTail, 0, 1<<20, &stop, &wg)
	defer func() { stop.Store(true); wg.Wait() }()
	dst := make([]byte, 64*esz) // larger than the ring, as a batch reader's is
	var attached, refused int
	for range attachIterations() {
		c, err := NewConsumer(mem)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("attach: %v, want ErrCorrupt", err)
			}
			refused++
			continue
		}
		attached++
		n, err := c.Peek(dst)
		if err == nil && n != 0 {
			t.Fatalf("Peek returned %d entries the producer never published", n)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Peek: %v", err)
		}
	}
	t.Logf("%d attaches, %d refused", attached, refused)
}

func TestProducerAttachRacingHostileHead(t *testing.T) {
	const entries, esz = 8, 8
	g := Geometry{Entries: entries, EntrySize: esz}
	mem := Alloc(g)
	if err := InitAt(mem, g, 1000); err != nil {
		t.Fatal(err)
	}
	// A full ring: tail = head + entries. The hostile head is far behind it.
	atomic.StoreUint32(word(mem, offTail), 1000+entries)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go flipWord(mem, offHead, 1000, 1000-100, &stop, &wg)
	defer func() { stop.Store(true); wg.Wait() }()
	for range attachIterations() {
		p, err := NewProducer(mem)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("attach: %v, want ErrCorrupt", err)
			}
			continue
		}
		// The ring is full whatever the peer says, so nothing may be granted:
		// a grant here would overwrite entries the consumer has not read.
		n, err := p.Reserve(1)
		if n != 0 {
			t.Fatalf("Reserve granted %d entries in a full ring", n)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Reserve: %v", err)
		}
	}
}
