package ring

// Fuzz targets for everything a peer controls: SQE and CQE bytes, ring header
// bytes with any region length and alignment, and index words rewritten at will
// by a hostile producer (seen by the consumer) or a hostile consumer (seen by the
// producer). Decoding and attaching must never panic; each target also checks
// its result against an independent oracle. Seeds live in f.Add and in
// testdata/fuzz/<FuzzName>/.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"
)

func FuzzSQEDecode(f *testing.F) {
	valid := make([]byte, SQESize)
	if err := pinnedSQE.Encode(valid); err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(make([]byte, SQESize))
	reserved := bytes.Clone(valid)
	reserved[54] = 1
	f.Add(reserved)
	flags := bytes.Clone(valid)
	flags[1] = 0x80
	f.Add(flags)
	f.Add(valid[:SQESize-1])
	f.Add(append(bytes.Clone(valid), 0xff))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s SQE
		err := s.Decode(b)
		// The oracle reads the layout straight from the UAPI table.
		ok := len(b) >= SQESize && b[54] == 0 && b[55] == 0 && b[1]&^0x03 == 0
		if (err == nil) != ok {
			t.Fatalf("Decode(%x) = %v, want ok=%v", b, err, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrBadEntry) {
				t.Fatalf("Decode error %v is not ErrBadEntry", err)
			}
			if len(b) >= SQESize && s.UserData != binary.LittleEndian.Uint64(b[8:]) {
				t.Fatalf("UserData %#x not filled in on a rejected entry", s.UserData)
			}
			return
		}
		out := make([]byte, SQESize)
		if err := s.Encode(out); err != nil {
			t.Fatalf("Encode of a decoded SQE: %v", err)
		}
		if !bytes.Equal(out, b[:SQESize]) {
			t.Fatalf("Encode(Decode(b)) = %x, want %x", out, b[:SQESize])
		}
	})
}

func FuzzCQEDecode(f *testing.F) {
	valid := make([]byte, CQESize)
	pinnedCQE.Encode(valid)
	f.Add(valid)
	f.Add(make([]byte, CQESize))
	reserved := bytes.Clone(valid)
	reserved[31] = 0x80
	f.Add(reserved)
	flags := bytes.Clone(valid)
	flags[15] = 0x01
	f.Add(flags)
	f.Add(valid[:CQESize-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		var c CQE
		err := c.Decode(b)
		ok := len(b) >= CQESize && binary.LittleEndian.Uint32(b[28:]) == 0 &&
			binary.LittleEndian.Uint16(b[14:])&^0x07 == 0
		if (err == nil) != ok {
			t.Fatalf("Decode(%x) = %v, want ok=%v", b, err, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrBadEntry) {
				t.Fatalf("Decode error %v is not ErrBadEntry", err)
			}
			if len(b) >= CQESize && c.UserData != binary.LittleEndian.Uint64(b) {
				t.Fatalf("UserData %#x not filled in on a rejected entry", c.UserData)
			}
			return
		}
		out := make([]byte, CQESize)
		c.Encode(out)
		if !bytes.Equal(out, b[:CQESize]) {
			t.Fatalf("Encode(Decode(b)) = %x, want %x", out, b[:CQESize])
		}
	})
}

// maxFuzzRegion bounds the regions FuzzReadGeometry builds, so each input stays
// cheap; geometries that need more are refused as too small, which is a path
// worth fuzzing too.
const maxFuzzRegion = 1 << 18

func FuzzReadGeometry(f *testing.F) {
	g := Geometry{Entries: 16, EntrySize: 64}
	mem := Alloc(g)
	if err := Init(mem, g); err != nil {
		f.Fatal(err)
	}
	f.Add(bytes.Clone(mem[:HeaderSize]), uint32(g.Size()), uint8(0))
	f.Add(bytes.Clone(mem[:HeaderSize]), uint32(g.Size()-1), uint8(0))
	f.Add(bytes.Clone(mem[:HeaderSize]), uint32(g.Size()), uint8(4))
	bad := bytes.Clone(mem[:HeaderSize])
	bad[20] = 1
	f.Add(bad, uint32(g.Size()), uint8(0))
	f.Add([]byte("AQRG"), uint32(HeaderSize), uint8(0))
	f.Fuzz(func(t *testing.T, header []byte, size uint32, misalign uint8) {
		n := int(size % (maxFuzzRegion + 1))
		off := int(misalign % 8)
		buf := Alloc(Geometry{Entries: maxFuzzRegion / 8, EntrySize: 8})
		mem := buf[off : off+n]
		copy(mem, header)
		g, err := ReadGeometry(mem)
		if err != nil {
			if !errors.Is(err, ErrBadHeader) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadGeometry error %v is neither ErrBadHeader nor ErrCorrupt", err)
			}
			if _, err := NewConsumer(mem); err == nil {
				t.Fatal("NewConsumer attached to a header ReadGeometry refused")
			}
			if _, err := NewProducer(mem); err == nil {
				t.Fatal("NewProducer attached to a header ReadGeometry refused")
			}
			return
		}
		if g.Size() > len(mem) || uintptr(unsafe.Pointer(unsafe.SliceData(mem)))%8 != 0 {
			t.Fatalf("accepted geometry %+v in a region of %d bytes at offset %d", g, len(mem), off)
		}
		c, err := NewConsumer(mem)
		if err != nil {
			t.Fatalf("NewConsumer after ReadGeometry succeeded: %v", err)
		}
		p, err := NewProducer(mem)
		if err != nil {
			t.Fatalf("NewProducer after ReadGeometry succeeded: %v", err)
		}
		if c.Geometry() != g || p.Geometry() != g {
			t.Fatalf("attached geometries %+v and %+v, header says %+v", c.Geometry(), p.Geometry(), g)
		}
		avail, err := c.Available()
		if err != nil {
			t.Fatal(err)
		}
		free, err := p.Free()
		if err != nil {
			t.Fatal(err)
		}
		if avail < 0 || free < 0 || avail+free != g.Entries {
			t.Fatalf("Available %d + Free %d != %d entries", avail, free, g.Entries)
		}
		// The ring works: what goes in comes out, after what was already there.
		e := bytes.Repeat([]byte{0x5a}, g.EntrySize)
		ok, err := p.Push(e)
		if err != nil || ok != (free > 0) {
			t.Fatalf("Push with %d free: %v, %v", free, ok, err)
		}
		dst := make([]byte, (avail+1)*g.EntrySize)
		got, err := c.Pop(dst)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			avail++
		}
		if got != avail {
			t.Fatalf("Pop returned %d of %d entries", got, avail)
		}
		if ok && !bytes.Equal(dst[(got-1)*g.EntrySize:got*g.EntrySize], e) {
			t.Fatal("pushed entry did not come out last")
		}
	})
}

// hostileRing is the fixture for the two hostile-peer fuzzers: a ring of 8
// entries of 8 bytes whose slots are initialised to their own slot numbers, so
// a copy from the wrong slot shows.
const hostileEntries, hostileESZ = 8, 8

func hostileRing(t *testing.T, start uint32) []byte {
	g := Geometry{Entries: hostileEntries, EntrySize: hostileESZ}
	mem := Alloc(g)
	if err := InitAt(mem, g, start); err != nil {
		t.Fatal(err)
	}
	for i := range hostileEntries {
		binary.LittleEndian.PutUint64(mem[HeaderSize+i*hostileESZ:], uint64(i))
	}
	return mem
}

// opReader hands out the fuzz input a few bytes at a time, then zeros.
type opReader struct{ b []byte }

func (r *opReader) more() bool { return len(r.b) > 0 }

func (r *opReader) u8() uint8 {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *opReader) u32() uint32 {
	return uint32(r.u8()) | uint32(r.u8())<<8 | uint32(r.u8())<<16 | uint32(r.u8())<<24
}

// tailLegal is the consumer's contract, written from the spec rather than the
// code: the tail never moves backwards and is at most a ring ahead of the head,
// i.e. it lies in [lastTail, head+entries] on the 32-bit circle.
func tailLegal(t, head, lastTail uint32) bool {
	return t-lastTail <= head+hostileEntries-lastTail
}

func FuzzConsumerHostile(f *testing.F) {
	f.Add([]byte{0, 3, 2, 4, 2, 1, 3, 0}, uint32(0))
	f.Add([]byte{0, 9, 2, 8}, uint32(0))                               // one past a full ring
	f.Add([]byte{0, 5, 3, 0, 0xfe, 2, 8}, uint32(0xfffffffd))          // backwards across the wrap
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 2, 3}, uint32(0xfffffffa)) // absolute garbage
	f.Add([]byte{4, 0x10, 0x20, 0x30, 0x40, 0, 2, 2, 2}, uint32(7))    // garbage head and flags
	f.Fuzz(func(t *testing.T, ops []byte, start uint32) {
		mem := hostileRing(t, start)
		c, err := NewConsumer(mem)
		if err != nil {
			t.Fatal(err)
		}
		head, lastTail := start, start
		var corrupt uint64
		r := &opReader{ops}
		dst := make([]byte, (hostileEntries+4)*hostileESZ)
		for r.more() {
			// accept applies the contract to one load of the tail.
			accept := func(err error) (uint32, bool) {
				tl := getWord(mem, offTail)
				if !tailLegal(tl, head, lastTail) {
					corrupt++
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("tail %#x with head %#x, last tail %#x: err %v, want ErrCorrupt", tl, head, lastTail, err)
					}
					return 0, false
				}
				if err != nil {
					t.Fatalf("legal tail %#x with head %#x: %v", tl, head, err)
				}
				lastTail = tl
				return tl - head, true
			}
			switch r.u8() % 6 {
			case 0: // the producer moves the tail relative to the head
				setWord(mem, offTail, head+uint32(int32(int8(r.u8()))))
			case 1: // the producer writes anything
				setWord(mem, offTail, r.u32())
			case 2: // Peek k, then Advance some of them
				k := int(r.u8() % (hostileEntries + 4))
				cached := lastTail - head
				n, err := c.Peek(dst[:k*hostileESZ])
				want := min(k, int(cached))
				if uint32(k) > cached { // only then must Peek load the tail
					avail, ok := accept(err)
					if !ok {
						if n != 0 {
							t.Fatalf("Peek returned %d entries with an error", n)
						}
						break
					}
					want = min(k, int(avail))
				} else if err != nil {
					t.Fatalf("Peek of cached entries: %v", err)
				}
				if n != want {
					t.Fatalf("Peek(%d) = %d, want %d (head %#x, tail %#x)", k, n, want, head, lastTail)
				}
				for i := range n {
					slot := uint64((head + uint32(i)) & (hostileEntries - 1))
					if v := binary.LittleEndian.Uint64(dst[i*hostileESZ:]); v != slot {
						t.Fatalf("entry %d copied from slot %d, want slot %d", i, v, slot)
					}
				}
				adv := int(r.u8()) % (n + 1)
				c.Advance(adv)
				head += uint32(adv)
				if getWord(mem, offHead) != head {
					t.Fatalf("published head %#x, want %#x", getWord(mem, offHead), head)
				}
			case 3:
				n, err := c.Available()
				if avail, ok := accept(err); ok && n != int(avail) {
					t.Fatalf("Available = %d, want %d", n, avail)
				}
			case 4: // the producer scribbles on words it does not own
				setWord(mem, offHead, r.u32())
				setWord(mem, offFlags, r.u32())
				// The consumer never reads its head back: restore what it
				// published so the checks above stay about the tail.
				setWord(mem, offHead, head)
			case 5:
				empty, err := c.Arm()
				if avail, ok := accept(err); ok && empty != (avail == 0) {
					t.Fatalf("Arm = %v with %d entries ready", empty, avail)
				}
				c.Disarm()
			}
			if got := c.Counters().ConsumerCorrupt; got != corrupt {
				t.Fatalf("consumer corrupt counter %d, want %d", got, corrupt)
			}
		}
	})
}

// headLegal is the producer's contract: the head never moves backwards and
// never passes the tail: it lies in [lastHead, tail] on the 32-bit circle.
func headLegal(h, tail, lastHead uint32) bool {
	return h-lastHead <= tail-lastHead
}

func FuzzProducerHostile(f *testing.F) {
	f.Add([]byte{2, 8, 8, 0, 4, 2, 3, 3}, uint32(0))
	f.Add([]byte{2, 5, 5, 0, 9, 3}, uint32(0))                          // head past tail
	f.Add([]byte{2, 8, 8, 0, 0xff, 2, 1, 1}, uint32(0xfffffffc))        // backwards across the wrap
	f.Add([]byte{2, 4, 4, 1, 0xff, 0xff, 0xff, 0xff, 3}, uint32(1<<31)) // absolute garbage
	f.Fuzz(func(t *testing.T, ops []byte, start uint32) {
		mem := hostileRing(t, start)
		p, err := NewProducer(mem)
		if err != nil {
			t.Fatal(err)
		}
		tail, lastHead := start, start
		var corrupt, refused uint64
		r := &opReader{ops}
		accept := func(err error) (uint32, bool) {
			h := getWord(mem, offHead)
			if !headLegal(h, tail, lastHead) {
				corrupt++
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("head %#x with tail %#x, last head %#x: err %v, want ErrCorrupt", h, tail, lastHead, err)
				}
				return 0, false
			}
			if err != nil {
				t.Fatalf("legal head %#x with tail %#x: %v", h, tail, err)
			}
			lastHead = h
			return hostileEntries - (tail - h), true
		}
		for r.more() {
			switch r.u8() % 4 {
			case 0: // the consumer moves the head relative to the tail
				setWord(mem, offHead, tail-uint32(int32(int8(r.u8()))))
			case 1:
				setWord(mem, offHead, r.u32())
			case 2: // Reserve n, fill, Commit some
				n := int(r.u8()%(hostileEntries+4)) - 1
				cachedFree := hostileEntries - (tail - lastHead)
				got, err := p.Reserve(n)
				want := min(max(n, 0), int(cachedFree))
				if n > int(cachedFree) { // only then must Reserve load the head
					free, ok := accept(err)
					if !ok {
						if got != 0 {
							t.Fatalf("Reserve granted %d with an error", got)
						}
						break
					}
					want = min(n, int(free))
				} else if err != nil {
					t.Fatalf("Reserve within cached free space: %v", err)
				}
				if got != want {
					t.Fatalf("Reserve(%d) = %d, want %d (tail %#x, head %#x)", n, got, want, tail, lastHead)
				}
				refused += uint64(max(n, 0) - got)
				for i := range got {
					binary.LittleEndian.PutUint64(p.Entry(i), 0x1000+uint64(i))
					slot := int((tail + uint32(i)) & (hostileEntries - 1))
					if v := binary.LittleEndian.Uint64(mem[HeaderSize+slot*hostileESZ:]); v != 0x1000+uint64(i) {
						t.Fatalf("Entry(%d) is not slot %d", i, slot)
					}
				}
				k := int(r.u8()) % (got + 1)
				p.Commit(k)
				tail += uint32(k)
				if getWord(mem, offTail) != tail {
					t.Fatalf("published tail %#x, want %#x", getWord(mem, offTail), tail)
				}
			case 3:
				n, err := p.Free()
				if free, ok := accept(err); ok && n != int(free) {
					t.Fatalf("Free = %d, want %d", n, free)
				}
			}
			cs := p.Counters()
			if cs.ProducerCorrupt != corrupt || cs.Refused != refused {
				t.Fatalf("counters corrupt %d refused %d, want %d and %d", cs.ProducerCorrupt, cs.Refused, corrupt, refused)
			}
		}
	})
}
