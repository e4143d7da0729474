package ring

// Hostile-peer tests: the other side of a ring is another process that may write
// anything into shared memory. A garbage tail (seen by the consumer), a garbage
// head (seen by the producer) or a garbage header must produce ErrCorrupt or
// ErrBadHeader, counted in the header where the API says so, and never a panic,
// a hang, or an index followed out of the ring. A header rewritten after attach
// must not change the attached side's geometry.

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

// noHang runs f and fails the test if it does not return within hangTimeout.
func noHang(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(hangTimeout):
		t.Fatalf("%s hung", what)
	}
}

func TestConsumerRejectsGarbageTail(t *testing.T) {
	const entries, esz = 8, 16
	for _, start := range []uint32{0, math.MaxUint32 - 2, 1 << 31} {
		// The consumer has seen tail = start+5 and released 2, so head = start+2.
		cases := []struct {
			name string
			tail func(head, seen uint32) uint32
		}{
			{"one past a full ring", func(h, _ uint32) uint32 { return h + entries + 1 }},
			{"far ahead", func(h, _ uint32) uint32 { return h + 1<<31 }},
			{"just behind head", func(h, _ uint32) uint32 { return h - 1 }},
			{"a ring behind head", func(h, _ uint32) uint32 { return h - entries }},
			{"backwards, still past head", func(_, s uint32) uint32 { return s - 1 }},
			{"backwards to head", func(h, _ uint32) uint32 { return h }},
			{"all ones", func(_, _ uint32) uint32 { return math.MaxUint32 }},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("start=%#x/%s", start, tc.name), func(t *testing.T) {
				p, c, mem := newPairAt(t, entries, esz, start)
				for range 5 {
					if ok, err := p.Push(make([]byte, esz)); !ok || err != nil {
						t.Fatal("push into an empty ring failed")
					}
				}
				if n, err := c.Pop(make([]byte, 2*esz)); n != 2 || err != nil {
					t.Fatalf("pop 2: %d %v", n, err)
				}
				head, seen := start+2, start+5
				bad := tc.tail(head, seen)
				if bad == seen || (bad-head <= entries && bad-seen <= entries) {
					return // the start makes this case a legal index; nothing to test
				}
				setWord(mem, offTail, bad)
				// A consumer that missed the corruption would sleep out the
				// timeout and return no error; one that saw it returns at once.
				const timeout = time.Second
				calls := []struct {
					name string
					f    func() (int, error)
				}{
					{"Available", c.Available},
					{"Peek", func() (int, error) { return c.Peek(make([]byte, entries*esz)) }},
					{"Pop", func() (int, error) { return c.Pop(make([]byte, entries*esz)) }},
					{"Wait", func() (int, error) { return c.Wait(10, timeout) }},
					{"Arm", func() (int, error) { _, err := c.Arm(); return 0, err }},
					{"Sleep", func() (int, error) { return 0, c.Sleep(timeout) }},
				}
				for i, call := range calls {
					noHang(t, call.name, func() {
						n, err := call.f()
						if !errors.Is(err, ErrCorrupt) || n != 0 {
							t.Errorf("%s with tail %#x, head %#x: %d, %v; want 0, ErrCorrupt", call.name, bad, head, n, err)
						}
					})
					if got := c.Counters().ConsumerCorrupt; got != uint64(i+1) {
						t.Errorf("after %s, consumer corrupt counter is %d, want %d", call.name, got, i+1)
					}
				}
				if h := getWord(mem, offHead); h != head {
					t.Errorf("consumer moved its head to %#x on a corrupt tail", h)
				}
				if f := getWord(mem, offFlags); f != 0 {
					t.Errorf("flags %#x left set after a corrupt tail", f)
				}
				if s := c.Counters().Sleeps; s != 0 {
					t.Errorf("consumer slept %d times on a corrupt ring", s)
				}
			})
		}
	}
}

func TestConsumerAcceptsBoundaryTails(t *testing.T) {
	const entries = 8
	_, c, mem := newPairAt(t, entries, 8, math.MaxUint32-3)
	head := getWord(mem, offHead)
	// Exactly a full ring ahead is legal, and so is standing still.
	setWord(mem, offTail, head+entries)
	if n, err := c.Available(); n != entries || err != nil {
		t.Fatalf("full ring: %d, %v", n, err)
	}
	if n, err := c.Available(); n != entries || err != nil {
		t.Fatalf("full ring, read again: %d, %v", n, err)
	}
	if got := c.Counters().ConsumerCorrupt; got != 0 {
		t.Fatalf("legal tails counted as corrupt %d times", got)
	}
}

func TestProducerRejectsGarbageHead(t *testing.T) {
	const entries, esz = 8, 16
	for _, start := range []uint32{0, math.MaxUint32 - 2} {
		// The producer has published start+5; the consumer has released 2 and
		// the producer has seen that, so its cached head is start+2.
		cases := []struct {
			name string
			head func(head, tail uint32) uint32
		}{
			{"one past tail", func(_, tl uint32) uint32 { return tl + 1 }},
			{"far past tail", func(_, tl uint32) uint32 { return tl + 1<<30 }},
			{"backwards", func(h, _ uint32) uint32 { return h - 1 }},
			{"more than a ring behind tail", func(_, tl uint32) uint32 { return tl - entries - 1 }},
			{"all ones", func(_, _ uint32) uint32 { return math.MaxUint32 }},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("start=%#x/%s", start, tc.name), func(t *testing.T) {
				p, c, mem := newPairAt(t, entries, esz, start)
				for range 5 {
					if ok, err := p.Push(make([]byte, esz)); !ok || err != nil {
						t.Fatal("push into an empty ring failed")
					}
				}
				if n, err := c.Pop(make([]byte, 2*esz)); n != 2 || err != nil {
					t.Fatalf("pop 2: %d %v", n, err)
				}
				if f, err := p.Free(); f != entries-3 || err != nil {
					t.Fatalf("Free: %d, %v", f, err)
				}
				head, tail := start+2, start+5
				bad := tc.head(head, tail)
				if bad-head <= tail-head {
					return // legal for this start
				}
				setWord(mem, offHead, bad)
				calls := []struct {
					name string
					f    func() (int, error)
				}{
					{"Free", p.Free},
					// More than the cached free space, so Reserve must look at the head.
					{"Reserve", func() (int, error) { return p.Reserve(entries) }},
					{"Reserve(more than the ring)", func() (int, error) { return p.Reserve(entries + 1) }},
				}
				for i, call := range calls {
					n, err := call.f()
					if !errors.Is(err, ErrCorrupt) || n != 0 {
						t.Errorf("%s with head %#x, tail %#x: %d, %v; want 0, ErrCorrupt", call.name, bad, tail, n, err)
					}
					if got := p.Counters().ProducerCorrupt; got != uint64(i+1) {
						t.Errorf("after %s, producer corrupt counter is %d, want %d", call.name, got, i+1)
					}
				}
				// A failed Reserve leaves nothing reserved to write into.
				func() {
					defer func() { _ = recover() }()
					p.Entry(0)
					t.Error("Entry(0) after a failed Reserve did not panic")
				}()
				if tl := getWord(mem, offTail); tl != tail {
					t.Errorf("producer moved its tail to %#x on a corrupt head", tl)
				}
				if r := p.Counters().Refused; r != 0 {
					t.Errorf("corrupt head counted as %d refused entries", r)
				}
			})
		}
	}
}

// corruptions are header edits that ReadGeometry must refuse. Each starts from a
// valid header of 16 entries of 64 bytes.
func corruptions() []struct {
	name string
	edit func(mem []byte) []byte
	want error
} {
	type c = struct {
		name string
		edit func(mem []byte) []byte
		want error
	}
	word := func(off int, v uint32) func([]byte) []byte {
		return func(m []byte) []byte { setWord(m, off, v); return m }
	}
	half := func(off int, v uint16) func([]byte) []byte {
		return func(m []byte) []byte { m[off] = byte(v); m[off+1] = byte(v >> 8); return m }
	}
	var cs []c
	for i := range 4 {
		cs = append(cs, c{fmt.Sprintf("magic byte %d", i), func(m []byte) []byte { m[i] ^= 0x20; return m }, ErrBadHeader})
	}
	cs = append(cs, c{"magic zero", word(offMagic, 0), ErrBadHeader})
	for _, v := range []uint16{0, 1, 3, 0xffff} {
		cs = append(cs, c{fmt.Sprintf("version %d", v), half(offVersion, v), ErrBadHeader})
	}
	for _, v := range []uint16{0, 64, 255, 257, 512} {
		cs = append(cs, c{fmt.Sprintf("header size %d", v), half(offHeaderSize, v), ErrBadHeader})
	}
	for _, v := range []uint32{0, 4, 60, 63, 65, MaxEntrySize + 8, 1 << 31, math.MaxUint32} {
		cs = append(cs, c{fmt.Sprintf("entry size %d", v), word(offEntrySize, v), ErrBadHeader})
	}
	for _, v := range []uint32{0, 3, 15, 17, 24, MaxEntries * 2, 1 << 31, math.MaxUint32} {
		// Keep the mask consistent, so only the count itself is wrong.
		cs = append(cs, c{fmt.Sprintf("entries %d", v), func(m []byte) []byte {
			setWord(m, offEntries, v)
			setWord(m, offMask, v-1)
			return m
		}, ErrBadHeader})
	}
	for _, v := range []uint32{0, 7, 14, 16, 31, math.MaxUint32} {
		cs = append(cs, c{fmt.Sprintf("mask %#x", v), word(offMask, v), ErrBadHeader})
	}
	for _, r := range [][2]int{{offReserved0, offTail}, {offProdReserved, offRefused}} {
		for i := r[0]; i < r[1]; i++ {
			cs = append(cs, c{fmt.Sprintf("reserved byte %d", i), func(m []byte) []byte { m[i] = 0x80; return m }, ErrBadHeader})
		}
	}
	for bit := 1; bit < 32; bit++ {
		cs = append(cs, c{fmt.Sprintf("flag bit %d", bit), word(offFlags, 1<<bit|FlagNeedWakeup), ErrBadHeader})
	}
	for _, n := range []int{0, 1, 8, HeaderSize - 1, HeaderSize, Size(16, 64) - 1} {
		cs = append(cs, c{fmt.Sprintf("region of %d bytes", n), func(m []byte) []byte { return m[:n] }, ErrBadHeader})
	}
	for off := 1; off < 8; off++ {
		cs = append(cs, c{fmt.Sprintf("region misaligned by %d", off), func(m []byte) []byte {
			b := Alloc(Geometry{Entries: 32, EntrySize: 64})
			copy(b[off:], m)
			return b[off : off+len(m)]
		}, ErrBadHeader})
	}
	cs = append(cs,
		c{"tail a ring and one past head", word(offTail, 17), ErrCorrupt},
		c{"head past tail", word(offHead, 1), ErrCorrupt},
		c{"tail behind head", func(m []byte) []byte { setWord(m, offTail, 100); setWord(m, offHead, 101); return m }, ErrCorrupt},
	)
	return cs
}

func TestBadHeadersRefused(t *testing.T) {
	g := Geometry{Entries: 16, EntrySize: 64}
	for _, tc := range corruptions() {
		mem := Alloc(g)
		if err := Init(mem, g); err != nil {
			t.Fatal(err)
		}
		mem = tc.edit(mem)
		if _, err := ReadGeometry(mem); !errors.Is(err, tc.want) {
			t.Errorf("%s: ReadGeometry error %v, want %v", tc.name, err, tc.want)
		}
		if c, err := NewConsumer(mem); !errors.Is(err, tc.want) || c != nil {
			t.Errorf("%s: NewConsumer = %v, %v; want nil, %v", tc.name, c, err, tc.want)
		}
		if p, err := NewProducer(mem); !errors.Is(err, tc.want) || p != nil {
			t.Errorf("%s: NewProducer = %v, %v; want nil, %v", tc.name, p, err, tc.want)
		}
	}
}

func TestHeaderOddButLegal(t *testing.T) {
	g := Geometry{Entries: 16, EntrySize: 64}
	mem := Alloc(g)
	if err := Init(mem, g); err != nil {
		t.Fatal(err)
	}
	// A consumer that went to sleep before we attached, indices that wrapped,
	// a full ring, and counters that are advisory: all fine.
	setWord(mem, offFlags, FlagNeedWakeup)
	head := uint32(math.MaxUint32 - 5)
	setWord(mem, offHead, head)
	setWord(mem, offTail, head+16)
	for _, off := range []int{offRefused, offProdCorrupt, offWakeups, offConsCorrupt, offSleeps} {
		setWord(mem, off, math.MaxUint32)
		setWord(mem, off+4, math.MaxUint32)
	}
	// A region longer than the ring is fine too; the sides use only their part.
	long := Alloc(Geometry{Entries: 32, EntrySize: 64})
	copy(long, mem)
	for _, m := range [][]byte{mem, long} {
		got, err := ReadGeometry(m)
		if err != nil || got != g {
			t.Fatalf("ReadGeometry = %+v, %v", got, err)
		}
		c, err := NewConsumer(m)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := c.Available(); n != 16 || err != nil {
			t.Fatalf("Available on a full wrapped ring: %d, %v", n, err)
		}
		p, err := NewProducer(m)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := p.Free(); n != 0 || err != nil {
			t.Fatalf("Free on a full wrapped ring: %d, %v", n, err)
		}
	}
}

func TestInitRefusesBadGeometry(t *testing.T) {
	for _, g := range []Geometry{
		{0, 64}, {3, 64}, {MaxEntries * 2, 8}, {-4, 64},
		{16, 0}, {16, 4}, {16, 12}, {16, MaxEntrySize + 8}, {16, -8},
	} {
		if err := Init(make([]byte, 1<<16), g); !errors.Is(err, ErrBadHeader) {
			t.Errorf("Init(%+v): %v, want ErrBadHeader", g, err)
		}
	}
	g := Geometry{Entries: 16, EntrySize: 64}
	mem := Alloc(Geometry{Entries: 32, EntrySize: 64})
	if err := Init(mem[:g.Size()-1], g); !errors.Is(err, ErrBadHeader) {
		t.Errorf("Init into a short region: %v", err)
	}
	if err := Init(mem[4:4+g.Size()], g); !errors.Is(err, ErrBadHeader) {
		t.Errorf("Init into a misaligned region: %v", err)
	}
	// MaxEntries and MaxEntrySize themselves are legal.
	for _, g := range []Geometry{{MaxEntries, 8}, {1, MaxEntrySize}} {
		if err := Init(Alloc(g), g); err != nil {
			t.Errorf("Init(%+v): %v", g, err)
		}
	}
}

func TestHeaderRewriteAfterAttach(t *testing.T) {
	const entries, esz = 8, 16
	g := Geometry{Entries: entries, EntrySize: esz}
	// Guard bytes after the ring catch any write sized by the rewritten header.
	buf := Alloc(Geometry{Entries: 64, EntrySize: esz})
	mem := buf[:g.Size()]
	guard := buf[g.Size():]
	for i := range guard {
		guard[i] = 0xa5
	}
	if err := Init(mem, g); err != nil {
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
	setWord(mem, offMagic, 0)
	setWord(mem, offEntries, 64)
	setWord(mem, offMask, 63)
	setWord(mem, offEntrySize, 64)
	if p.Geometry() != g || c.Geometry() != g {
		t.Fatalf("geometry after rewrite: producer %+v, consumer %+v, want %+v", p.Geometry(), c.Geometry(), g)
	}
	for round := range 5 {
		for i := range entries {
			e := make([]byte, esz)
			fill(e, uint64(round*entries+i))
			if ok, err := p.Push(e); !ok || err != nil {
				t.Fatalf("push %d: %v %v", i, ok, err)
			}
		}
		if ok, err := p.Push(make([]byte, esz)); ok || err != nil {
			t.Fatalf("the ring took a ninth entry after its header claimed 64: %v %v", ok, err)
		}
		dst := make([]byte, 64*esz)
		n, err := c.Pop(dst)
		if n != entries || err != nil {
			t.Fatalf("pop: %d, %v", n, err)
		}
		for i := range n {
			if v := getWord(dst, i*esz); v != uint32(round*entries+i) {
				t.Fatalf("entry %d holds %d", round*entries+i, v)
			}
		}
	}
	for i, b := range guard {
		if b != 0xa5 {
			t.Fatalf("byte %d past the ring was written", i)
		}
	}
	if _, err := NewConsumer(mem); !errors.Is(err, ErrBadHeader) {
		t.Fatalf("a new attach after the rewrite: %v, want ErrBadHeader", err)
	}
}
