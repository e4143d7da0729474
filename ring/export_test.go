package ring

import (
	"encoding/binary"
	"testing"
)

// Helpers that reach into the header, for tests that need states the public API
// only reaches after billions of operations.

// InitAt initialises mem as a ring of geometry g whose head and tail both start at
// start. Indices are free-running 32-bit counters, so a start just below 2^32 makes
// a short test cross the wrap-around that production reaches after 4G entries.
func InitAt(mem []byte, g Geometry, start uint32) error {
	if err := Init(mem, g); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(mem[offTail:], start)
	binary.LittleEndian.PutUint32(mem[offHead:], start)
	return nil
}

// newPairAt is newPair for a ring whose indices start at start.
func newPairAt(t testing.TB, entries, esz int, start uint32) (*Producer, *Consumer, []byte) {
	t.Helper()
	g := Geometry{Entries: entries, EntrySize: esz}
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
	return p, c, mem
}

// setWord and getWord access a header word directly, playing a hostile or
// buggy peer that writes shared memory without going through the API.
func setWord(mem []byte, off int, v uint32) { binary.LittleEndian.PutUint32(mem[off:], v) }
func getWord(mem []byte, off int) uint32    { return binary.LittleEndian.Uint32(mem[off:]) }
