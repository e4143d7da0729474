package ring

// Smoke tests of the basic push/pop path and of a corrupt tail, plus newPair,
// the fixture most other test files build on.

import (
	"errors"
	"testing"
)

func newPair(t testing.TB, entries, esz int) (*Producer, *Consumer, []byte) {
	t.Helper()
	g := Geometry{Entries: entries, EntrySize: esz}
	mem := Alloc(g)
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
	return p, c, mem
}

func TestPushPopOrderAndFull(t *testing.T) {
	p, c, _ := newPair(t, 8, 8)
	for i := 0; i < 8; i++ {
		ok, err := p.Push([]byte{byte(i), 0, 0, 0, 0, 0, 0, 0})
		if !ok || err != nil {
			t.Fatalf("push %d: %v %v", i, ok, err)
		}
	}
	if ok, err := p.Push(make([]byte, 8)); ok || err != nil {
		t.Fatalf("push into full ring: ok=%v err=%v, want refused", ok, err)
	}
	buf := make([]byte, 8*16)
	n, err := c.Pop(buf)
	if err != nil || n != 8 {
		t.Fatalf("pop: %d %v", n, err)
	}
	for i := 0; i < 8; i++ {
		if buf[i*8] != byte(i) {
			t.Fatalf("entry %d holds %d", i, buf[i*8])
		}
	}
}

func TestCorruptTailReported(t *testing.T) {
	_, c, mem := newPair(t, 8, 8)
	*word(mem, offTail) = 1000
	if _, err := c.Available(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tail far ahead: err %v, want ErrCorrupt", err)
	}
}

// TestPushNWraps: PushN writes a run of entries that crosses the end of the
// array in order, publishes what fits in a nearly full ring, and refuses
// nothing silently.
func TestPushNWraps(t *testing.T) {
	p, c, _ := newPair(t, 8, 8)
	entries := func(from, n int) []byte {
		b := make([]byte, n*8)
		for i := 0; i < n; i++ {
			b[i*8] = byte(from + i)
		}
		return b
	}
	buf := make([]byte, 8*8)
	next := 0
	for round := 0; round < 5; round++ { // every start position, and wraps
		n, err := p.PushN(entries(next, 5))
		if n != 5 || err != nil {
			t.Fatalf("round %d: PushN of 5 into an empty ring: %d, %v", round, n, err)
		}
		got, err := c.Pop(buf)
		if got != 5 || err != nil {
			t.Fatalf("round %d: popped %d, %v", round, got, err)
		}
		for i := 0; i < 5; i++ {
			if buf[i*8] != byte(next+i) {
				t.Fatalf("round %d: entry %d is %d, want %d", round, i, buf[i*8], next+i)
			}
		}
		next += 5
	}
	p.PushN(entries(0, 6))
	if n, err := p.PushN(entries(6, 4)); n != 2 || err != nil {
		t.Fatalf("PushN of 4 with 2 free: %d, %v", n, err)
	}
	if n, err := p.PushN(entries(8, 1)); n != 0 || err != nil {
		t.Fatalf("PushN into a full ring: %d, %v", n, err)
	}
	if got, _ := c.Pop(buf); got != 8 || buf[7*8] != 7 {
		t.Fatalf("popped %d, last %d", got, buf[7*8])
	}
}
