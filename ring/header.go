package ring

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// Geometry is the shape of a ring, read from or written to its header.
type Geometry struct {
	Entries   int // number of entries, a power of two from 1 to MaxEntries
	EntrySize int // bytes per entry, a multiple of 8 from 8 to MaxEntrySize
}

// Size returns the region size the geometry needs.
func (g Geometry) Size() int { return Size(g.Entries, g.EntrySize) }

func (g Geometry) validate() error {
	if g.Entries < 1 || g.Entries > MaxEntries || bits.OnesCount(uint(g.Entries)) != 1 {
		return fmt.Errorf("%w: entry count %d is not a power of two in [1, %d]", ErrBadHeader, g.Entries, MaxEntries)
	}
	if g.EntrySize < 8 || g.EntrySize > MaxEntrySize || g.EntrySize%8 != 0 {
		return fmt.Errorf("%w: entry size %d is not a multiple of 8 in [8, %d]", ErrBadHeader, g.EntrySize, MaxEntrySize)
	}
	return nil
}

func checkRegion(mem []byte, need int) error {
	if len(mem) < need {
		return fmt.Errorf("%w: region of %d bytes is smaller than the %d the ring needs", ErrBadHeader, len(mem), need)
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(mem)))%8 != 0 {
		return fmt.Errorf("%w: region is not 8-byte aligned", ErrBadHeader)
	}
	return nil
}

// Init writes a fresh header for g at the start of mem and zeroes the header's
// indices, counters and flags. It does not touch the entry array. mem must be
// at least g.Size() bytes and 8-byte aligned; 64-byte alignment (as a mapping
// or Alloc gives) keeps the indices on separate cache lines.
func Init(mem []byte, g Geometry) error {
	if err := g.validate(); err != nil {
		return err
	}
	if err := checkRegion(mem, g.Size()); err != nil {
		return err
	}
	clear(mem[:HeaderSize])
	le := binary.LittleEndian
	le.PutUint32(mem[offMagic:], Magic)
	le.PutUint16(mem[offVersion:], Version)
	le.PutUint16(mem[offHeaderSize:], HeaderSize)
	le.PutUint32(mem[offEntrySize:], uint32(g.EntrySize))
	le.PutUint32(mem[offEntries:], uint32(g.Entries))
	le.PutUint32(mem[offMask:], uint32(g.Entries-1))
	return nil
}

// ReadGeometry validates the header at the start of mem and returns its geometry.
// Every header byte is checked: magic, version, header size, geometry, mask and
// all reserved fields. It also checks that the indices are consistent.
func ReadGeometry(mem []byte) (Geometry, error) {
	if err := checkRegion(mem, HeaderSize); err != nil {
		return Geometry{}, err
	}
	// Copy the header once: the peer may be rewriting it while we look. Word by
	// word with atomic loads, since the peer updates indices and flags atomically.
	var h [HeaderSize]byte
	for i := 0; i < HeaderSize; i += 4 {
		binary.LittleEndian.PutUint32(h[i:], atomic.LoadUint32(word(mem, i)))
	}
	le := binary.LittleEndian
	if m := le.Uint32(h[offMagic:]); m != Magic {
		return Geometry{}, fmt.Errorf("%w: magic %#08x, want %#08x", ErrBadHeader, m, Magic)
	}
	if v := le.Uint16(h[offVersion:]); v != Version {
		return Geometry{}, fmt.Errorf("%w: ABI version %d, this build speaks %d", ErrBadHeader, v, Version)
	}
	if hs := le.Uint16(h[offHeaderSize:]); hs != HeaderSize {
		return Geometry{}, fmt.Errorf("%w: header size %d, want %d", ErrBadHeader, hs, HeaderSize)
	}
	g := Geometry{Entries: int(le.Uint32(h[offEntries:])), EntrySize: int(le.Uint32(h[offEntrySize:]))}
	if err := g.validate(); err != nil {
		return Geometry{}, err
	}
	if mask := le.Uint32(h[offMask:]); mask != uint32(g.Entries-1) {
		return Geometry{}, fmt.Errorf("%w: mask %#x does not match %d entries", ErrBadHeader, mask, g.Entries)
	}
	for _, r := range [][2]int{{offReserved0, offTail}, {offProdReserved, offRefused}} {
		for i := r[0]; i < r[1]; i++ {
			if h[i] != 0 {
				return Geometry{}, fmt.Errorf("%w: reserved header byte %d is %#x, must be zero", ErrBadHeader, i, h[i])
			}
		}
	}
	if f := le.Uint32(h[offFlags:]); f&^knownFlags != 0 {
		return Geometry{}, fmt.Errorf("%w: unknown flag bits %#x", ErrBadHeader, f&^knownFlags)
	}
	if used := le.Uint32(h[offTail:]) - le.Uint32(h[offHead:]); used > uint32(g.Entries) {
		return Geometry{}, fmt.Errorf("%w: tail is %d entries past head in a ring of %d", ErrCorrupt, used, g.Entries)
	}
	if err := checkRegion(mem, g.Size()); err != nil {
		return Geometry{}, err
	}
	return g, nil
}

// Alloc returns zeroed, 64-byte aligned ordinary memory for a ring of geometry g,
// for rings whose two sides live in one process.
func Alloc(g Geometry) []byte {
	n := g.Size()
	b := make([]byte, n+CacheLine)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (CacheLine - 1))
	return b[off : off+n : off+n]
}

// word returns a pointer to the 32-bit word at off in mem. The header has been
// validated, so off is in range and aligned.
func word(mem []byte, off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&mem[off]))
}

func dword(mem []byte, off int) *uint64 {
	return (*uint64)(unsafe.Pointer(&mem[off]))
}
