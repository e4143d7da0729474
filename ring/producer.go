package ring

import (
	"fmt"
	"sync/atomic"
)

// Producer is the writing side of a ring. It is not safe for concurrent use: a ring
// has exactly one producer, and callers that share one serialise around it.
type Producer struct {
	mem      []byte
	entries  uint32
	mask     uint32
	esz      uint32
	tail     uint32 // private: the next slot to fill, never read back from shared memory
	head     uint32 // last consumer index seen
	reserved uint32 // entries handed out by Reserve and not yet committed
	tailp    *uint32
	headp    *uint32
	flagsp   *uint32
	wakeMinp *uint32
	notifier Notifier
}

// NewProducer attaches a producer to the ring in mem, validating its header. The
// producer starts from the tail in the header.
func NewProducer(mem []byte) (*Producer, error) {
	g, err := ReadGeometry(mem)
	if err != nil {
		return nil, err
	}
	p := &Producer{
		mem:     mem[:g.Size():g.Size()],
		entries: uint32(g.Entries),
		mask:    uint32(g.Entries - 1),
		esz:     uint32(g.EntrySize),
	}
	p.tailp = word(p.mem, offTail)
	p.headp = word(p.mem, offHead)
	p.flagsp = word(p.mem, offFlags)
	p.wakeMinp = word(p.mem, offWakeMin)
	p.tail = atomic.LoadUint32(p.tailp)
	p.head = atomic.LoadUint32(p.headp)
	// ReadGeometry checked the indices in its copy of the header, but the peer
	// may have moved the head since: check the values this side will use.
	if p.tail-p.head > p.entries {
		return nil, fmt.Errorf("%w: tail %d is more than %d entries past head %d at attach", ErrCorrupt, p.tail, p.entries, p.head)
	}
	p.notifier = futexNotifier{p.flagsp}
	return p, nil
}

// Geometry returns the ring's geometry as validated at attach time.
func (p *Producer) Geometry() Geometry {
	return Geometry{Entries: int(p.entries), EntrySize: int(p.esz)}
}

// SetNotifier replaces the default futex notifier, for example with an eventfd
// the consumer sleeps on for several rings at once.
func (p *Producer) SetNotifier(n Notifier) { p.notifier = n }

// Free returns how many entries can be reserved now.
func (p *Producer) Free() (int, error) {
	if err := p.refreshHead(); err != nil {
		return 0, err
	}
	return int(p.entries - (p.tail - p.head)), nil
}

func (p *Producer) refreshHead() error {
	h := atomic.LoadUint32(p.headp)
	// The consumer may not pass the tail, nor move backwards: both show up as a
	// difference larger than the ring.
	if used := p.tail - h; used > p.entries || h-p.head > p.tail-p.head {
		atomic.AddUint64(dword(p.mem, offProdCorrupt), 1)
		return fmt.Errorf("%w: consumer head %d with producer tail %d in a ring of %d", ErrCorrupt, h, p.tail, p.entries)
	}
	p.head = h
	return nil
}

// Reserve reserves up to n entries and returns how many it got: fewer than n, or
// none, when the ring is full. Entries not granted count as refused in the header.
// A second Reserve before Commit replaces the first.
func (p *Producer) Reserve(n int) (int, error) {
	if n < 0 {
		n = 0
	}
	free := p.entries - (p.tail - p.head)
	if uint32(n) > free || n > int(p.entries) {
		if err := p.refreshHead(); err != nil {
			p.reserved = 0
			return 0, err
		}
		free = p.entries - (p.tail - p.head)
	}
	got := uint32(min(n, int(free)))
	if int(got) < n {
		atomic.AddUint64(dword(p.mem, offRefused), uint64(n-int(got)))
	}
	p.reserved = got
	return int(got), nil
}

// Entry returns the bytes of the i-th reserved entry, to be filled before Commit.
// The slice aliases the ring and is valid only until Commit.
func (p *Producer) Entry(i int) []byte {
	if uint32(i) >= p.reserved {
		panic("ring: Entry index outside the reservation")
	}
	off := HeaderSize + int(((p.tail+uint32(i))&p.mask)*p.esz)
	return p.mem[off : off+int(p.esz) : off+int(p.esz)]
}

// Commit publishes the first n reserved entries to the consumer with release
// ordering. Uncommitted reserved entries are given back.
func (p *Producer) Commit(n int) {
	if n < 0 || uint32(n) > p.reserved {
		panic("ring: Commit of more entries than reserved")
	}
	p.tail += uint32(n)
	p.reserved = 0
	atomic.StoreUint32(p.tailp, p.tail)
}

// Push copies one encoded entry into the ring and publishes it. It returns false,
// with a nil error, if the ring is full.
func (p *Producer) Push(entry []byte) (bool, error) {
	n, err := p.Reserve(1)
	if n == 0 {
		return false, err
	}
	copy(p.Entry(0), entry)
	p.Commit(1)
	return true, nil
}

// PushN copies encoded entries (a whole number of them) into the ring and
// publishes them with one tail update. It returns how many it copied: all of
// them, or fewer, or none with a nil error, if the ring is full. The copy is
// one or two moves of contiguous memory, which cost the writer less than
// entry-by-entry stores when the consumer's core holds the lines.
func (p *Producer) PushN(entries []byte) (int, error) {
	n, err := p.Reserve(len(entries) / int(p.esz))
	if n == 0 {
		return 0, err
	}
	first := p.tail & p.mask
	k := min(uint32(n), p.entries-first) // entries before the end of the array
	off := HeaderSize + int(first*p.esz)
	copy(p.mem[off:off+int(k*p.esz)], entries)
	if k < uint32(n) {
		copy(p.mem[HeaderSize:HeaderSize+int((uint32(n)-k)*p.esz)], entries[k*p.esz:])
	}
	p.Commit(n)
	return n, nil
}

// NeedsWakeup reports whether the consumer has asked to be woken.
func (p *Producer) NeedsWakeup() bool {
	return atomic.LoadUint32(p.flagsp)&FlagNeedWakeup != 0
}

// Wake wakes the consumer if it set FlagNeedWakeup, and reports whether it did.
// Call it after Commit; the atomic store of the tail in Commit and the load of the
// flags here are sequentially consistent, which is the full barrier the protocol
// needs. Without a sleeping consumer it costs one load and no system call.
func (p *Producer) Wake() (bool, error) {
	fence()
	if atomic.LoadUint32(p.flagsp)&FlagNeedWakeup == 0 {
		return false, nil
	}
	// A consumer that asked for more than one entry sleeps on until that many
	// are ready: one wake-up per batch, not per entry. The consumer wrote the
	// threshold before it set the flag, so having seen the flag we see it. A
	// nonsense threshold or head only delays the consumer that wrote it.
	if min := atomic.LoadUint32(p.wakeMinp); min > 1 && p.tail-atomic.LoadUint32(p.headp) < min {
		return false, nil
	}
	atomic.AndUint32(p.flagsp, ^FlagNeedWakeup)
	atomic.AddUint64(dword(p.mem, offWakeups), 1)
	return true, p.notifier.Notify()
}
