package ring

// Property tests: random sequences of Reserve/Entry/Commit/Push on the producer
// and Peek/Advance/Pop/Available on the consumer, interleaved on one goroutine and
// checked after every step against a slice-queue model. Indices start at a
// random point, often just below 2^32, so the free-running counters wrap during
// the sequence. A concurrent run checks order across the wrap with the race
// detector watching the entry copies.

import (
	"encoding/binary"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"
)

// ringModel is the reference: the committed entries not yet released, in order.
type ringModel struct {
	p        *Producer
	c        *Consumer
	mem      []byte
	entries  int
	esz      int
	start    uint32
	queue    []uint64 // committed and not yet released by the consumer
	reserved []uint64 // values written into the current reservation
	peeked   int      // entries returned by the last Peek, releasable by Advance
	refused  uint64
	pushed   uint64 // entries ever committed
	released uint64 // entries ever advanced past
	next     uint64 // next value to write; unique so reordering or loss shows
}

// fill writes v into an entry: v in the first word and bytes derived from v
// after it, so a torn or misplaced copy of any part of the entry is caught.
func fill(e []byte, v uint64) {
	binary.LittleEndian.PutUint64(e, v)
	for i := 8; i < len(e); i++ {
		e[i] = byte(v*31 + uint64(i))
	}
}

func checkEntry(t *rapid.T, e []byte, want uint64) {
	t.Helper()
	if got := binary.LittleEndian.Uint64(e); got != want {
		t.Fatalf("entry holds %d, want %d", got, want)
	}
	for i := 8; i < len(e); i++ {
		if e[i] != byte(want*31+uint64(i)) {
			t.Fatalf("entry %d byte %d is %#x, want %#x", want, i, e[i], byte(want*31+uint64(i)))
		}
	}
}

func mustPanic(t *rapid.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("%s did not panic", what)
		}
	}()
	f()
}

func (m *ringModel) reserve(t *rapid.T) {
	n := rapid.IntRange(-1, m.entries+2).Draw(t, "reserve")
	got, err := m.p.Reserve(n)
	if err != nil {
		t.Fatalf("Reserve(%d): %v", n, err)
	}
	want := min(max(n, 0), m.entries-len(m.queue))
	if got != want {
		t.Fatalf("Reserve(%d) granted %d with %d in flight in a ring of %d, want %d", n, got, len(m.queue), m.entries, want)
	}
	m.refused += uint64(max(n, 0) - got)
	m.reserved = m.reserved[:0]
	for i := 0; i < got; i++ {
		fill(m.p.Entry(i), m.next)
		m.reserved = append(m.reserved, m.next)
		m.next++
	}
	mustPanic(t, "Entry past the reservation", func() { m.p.Entry(got) })
	mustPanic(t, "Entry(-1)", func() { m.p.Entry(-1) })
}

func (m *ringModel) commit(t *rapid.T) {
	k := rapid.IntRange(0, len(m.reserved)+1).Draw(t, "commit")
	if k > len(m.reserved) {
		mustPanic(t, "Commit past the reservation", func() { m.p.Commit(k) })
		return
	}
	m.p.Commit(k)
	m.queue = append(m.queue, m.reserved[:k]...)
	m.pushed += uint64(k)
	// Commit gives back what it did not publish.
	m.reserved = m.reserved[:0]
	mustPanic(t, "Entry after Commit", func() { m.p.Entry(0) })
}

func (m *ringModel) push(t *rapid.T) {
	e := make([]byte, m.esz)
	fill(e, m.next)
	ok, err := m.p.Push(e)
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if want := len(m.queue) < m.entries; ok != want {
		t.Fatalf("Push ok=%v with %d of %d in flight", ok, len(m.queue), m.entries)
	}
	// Push reserves one entry, which replaces any open reservation.
	m.reserved = m.reserved[:0]
	if ok {
		m.queue = append(m.queue, m.next)
		m.pushed++
		m.next++
	} else {
		m.refused++
	}
}

// dst returns a buffer for k entries plus a few slack bytes that must be ignored.
func (m *ringModel) dst(t *rapid.T, label string) ([]byte, int) {
	k := rapid.IntRange(0, m.entries+2).Draw(t, label)
	slack := rapid.IntRange(0, m.esz-1).Draw(t, label+" slack")
	return make([]byte, k*m.esz+slack), k
}

func (m *ringModel) checkCopied(t *rapid.T, dst []byte, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		checkEntry(t, dst[i*m.esz:(i+1)*m.esz], m.queue[i])
	}
}

func (m *ringModel) peek(t *rapid.T) {
	dst, k := m.dst(t, "peek")
	n, err := m.c.Peek(dst)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	if want := min(k, len(m.queue)); n != want {
		t.Fatalf("Peek of %d returned %d with %d queued", k, n, len(m.queue))
	}
	m.checkCopied(t, dst, n)
	m.peeked = n
}

func (m *ringModel) advance(t *rapid.T) {
	k := rapid.IntRange(0, m.peeked+1).Draw(t, "advance")
	if k > m.peeked {
		mustPanic(t, "Advance past Peek", func() { m.c.Advance(k) })
		return
	}
	m.c.Advance(k)
	m.queue = m.queue[k:]
	m.released += uint64(k)
	m.peeked = 0
}

func (m *ringModel) pop(t *rapid.T) {
	dst, k := m.dst(t, "pop")
	n, err := m.c.Pop(dst)
	if err != nil {
		t.Fatalf("Pop: %v", err)
	}
	if want := min(k, len(m.queue)); n != want {
		t.Fatalf("Pop of %d returned %d with %d queued", k, n, len(m.queue))
	}
	m.checkCopied(t, dst, n)
	m.queue = m.queue[n:]
	m.released += uint64(n)
	m.peeked = 0
}

func (m *ringModel) counts(t *rapid.T) {
	a, err := m.c.Available()
	if err != nil {
		t.Fatalf("Available: %v", err)
	}
	f, err := m.p.Free()
	if err != nil {
		t.Fatalf("Free: %v", err)
	}
	if a != len(m.queue) || f != m.entries-len(m.queue) || f+a != m.entries {
		t.Fatalf("Available %d, Free %d with %d queued in a ring of %d", a, f, len(m.queue), m.entries)
	}
}

// invariants reads the header directly, not through Available or Free, so that
// checking does not refresh the sides' cached indices and hide stale-cache bugs.
func (m *ringModel) invariants(t *rapid.T) {
	tail, head := getWord(m.mem, offTail), getWord(m.mem, offHead)
	if tail != m.start+uint32(m.pushed) || head != m.start+uint32(m.released) {
		t.Fatalf("header tail %d head %d, want %d and %d", tail, head, m.start+uint32(m.pushed), m.start+uint32(m.released))
	}
	if int(tail-head) != len(m.queue) || len(m.queue) > m.entries {
		t.Fatalf("%d entries in flight, model has %d, ring holds %d", tail-head, len(m.queue), m.entries)
	}
	cs := m.c.Counters()
	if cs.Refused != m.refused {
		t.Fatalf("refused counter %d, want %d", cs.Refused, m.refused)
	}
	if cs.ProducerCorrupt != 0 || cs.ConsumerCorrupt != 0 || cs.Wakeups != 0 || cs.Sleeps != 0 {
		t.Fatalf("counters moved without cause: %+v", cs)
	}
}

var startIndex = rapid.OneOf(
	rapid.Just(uint32(0)),
	rapid.Uint32Range(math.MaxUint32-40, math.MaxUint32),
	rapid.Uint32Range(1<<31-40, 1<<31+40),
	rapid.Uint32(),
)

func TestRingMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := Geometry{
			Entries:   rapid.SampledFrom([]int{1, 2, 4, 8, 16}).Draw(t, "entries"),
			EntrySize: rapid.SampledFrom([]int{8, 16, 64}).Draw(t, "entry size"),
		}
		start := startIndex.Draw(t, "start")
		mem := Alloc(g)
		if err := InitAt(mem, g, start); err != nil {
			t.Fatal(err)
		}
		p, err := NewProducer(mem)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewConsumer(mem)
		if err != nil {
			t.Fatal(err)
		}
		m := &ringModel{p: p, c: c, mem: mem, entries: g.Entries, esz: g.EntrySize, start: start}
		actions := []func(*rapid.T){m.reserve, m.commit, m.push, m.peek, m.advance, m.pop, m.counts}
		steps := rapid.IntRange(20, 400).Draw(t, "steps")
		for range steps {
			actions[rapid.IntRange(0, len(actions)-1).Draw(t, "action")](t)
			m.invariants(t)
		}
	})
}

// TestWrapAroundExact walks the indices through 2^32 with every batch size, so
// the wrap is crossed at every slot offset rather than where rapid happens to
// land.
func TestWrapAroundExact(t *testing.T) {
	const entries, esz = 8, 16
	for batch := 1; batch <= entries; batch++ {
		p, c, mem := newPairAt(t, entries, esz, math.MaxUint32-3*entries)
		var next, want uint64
		dst := make([]byte, entries*esz)
		for round := 0; round < 8*entries; round++ {
			n, err := p.Reserve(batch)
			if err != nil || n != batch {
				t.Fatalf("batch %d round %d: Reserve = %d, %v", batch, round, n, err)
			}
			for i := range n {
				fill(p.Entry(i), next)
				next++
			}
			p.Commit(n)
			got, err := c.Pop(dst)
			if err != nil || got != n {
				t.Fatalf("batch %d round %d: Pop = %d, %v", batch, round, got, err)
			}
			for i := range got {
				if v := binary.LittleEndian.Uint64(dst[i*esz:]); v != want {
					t.Fatalf("batch %d: got entry %d, want %d", batch, v, want)
				}
				want++
			}
		}
		if h := getWord(mem, offHead); h >= math.MaxUint32-3*entries {
			t.Fatalf("batch %d: head %d never wrapped", batch, h)
		}
	}
}

// TestConcurrentOrderAcrossWrap runs the two sides on two goroutines across the
// 2^32 wrap. Under -race, the detector checks that the tail store and load order
// the entry copies.
func TestConcurrentOrderAcrossWrap(t *testing.T) {
	const entries, esz = 64, 64
	total := 200_000
	if testing.Short() || raceEnabled {
		total = 50_000
	}
	p, c, _ := newPairAt(t, entries, esz, math.MaxUint32-1000)
	var wg sync.WaitGroup
	var stop atomic.Bool
	// A failing consumer must not leave the producer spinning past the test.
	defer func() { stop.Store(true); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		wd := newWatchdog(hangTimeout)
		for v := 0; v < total && !stop.Load(); {
			n, err := p.Reserve(min(7, total-v))
			if err != nil {
				t.Error(err)
				return
			}
			if n == 0 {
				if wd.expired() {
					t.Errorf("producer stuck at entry %d of %d", v, total)
					return
				}
				runtime.Gosched()
				continue
			}
			for i := range n {
				fill(p.Entry(i), uint64(v+i))
			}
			p.Commit(n)
			v += n
		}
	}()
	dst := make([]byte, 5*esz)
	wd := newWatchdog(hangTimeout)
	for want := 0; want < total; {
		n, err := c.Pop(dst)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			if wd.expired() {
				t.Fatalf("consumer stuck at entry %d of %d", want, total)
			}
			runtime.Gosched()
			continue
		}
		for i := range n {
			e := dst[i*esz : (i+1)*esz]
			if v := binary.LittleEndian.Uint64(e); v != uint64(want) {
				t.Fatalf("got entry %d, want %d", v, want)
			}
			for j := 8; j < esz; j++ {
				if e[j] != byte(uint64(want)*31+uint64(j)) {
					t.Fatalf("entry %d byte %d torn", want, j)
				}
			}
			want++
		}
	}
	if cs := c.Counters(); cs.ConsumerCorrupt != 0 || cs.ProducerCorrupt != 0 {
		t.Fatalf("corruption counted in a healthy run: %+v", cs)
	}
}
