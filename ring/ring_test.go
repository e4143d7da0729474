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
