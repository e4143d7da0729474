package ring

// Header layout, byte offsets from the start of the region. Every multi-byte field
// is little-endian. Line 0 is written once by Init and read-only afterwards; line 1
// belongs to the producer, line 2 to the consumer, line 3 holds the flags word
// both sides touch. Keeping each writer on its own cache line avoids false sharing.
const (
	offMagic      = 0  // u32: Magic
	offVersion    = 4  // u16: Version
	offHeaderSize = 6  // u16: HeaderSize, the offset of the entry array
	offEntrySize  = 8  // u32: bytes per entry, a multiple of 8
	offEntries    = 12 // u32: number of entries, a power of two
	offMask       = 16 // u32: entries - 1
	offReserved0  = 20 // 44 bytes, must be zero

	offTail         = 64 // u32: producer index (free-running)
	offProdReserved = 68 // u32, must be zero
	offRefused      = 72 // u64: entries the producer could not reserve because the ring was full
	offProdCorrupt  = 80 // u64: times the producer saw an impossible consumer index
	offWakeups      = 88 // u64: wake-ups the producer issued

	offHead        = 128 // u32: consumer index (free-running)
	offWakeMin     = 132 // u32: entries a sleeping consumer waits for; 0 and 1 both mean one
	offConsCorrupt = 136 // u64: times the consumer saw an impossible producer index
	offSleeps      = 144 // u64: times the consumer went to sleep

	offFlags = 192 // u32: FlagNeedWakeup and future flags
)

const (
	// Magic identifies an accelq ring header: the bytes "AQRG".
	Magic uint32 = 0x47525141
	// Version is the ABI version this package writes and accepts.
	Version uint16 = 2
	// HeaderSize is the size of the ring header; entries start at this offset.
	HeaderSize = 256
	// CacheLine is the alignment of each index in the header.
	CacheLine = 64
	// MaxEntries bounds the entry count, so an index difference always fits in 31 bits
	// and a region size never overflows.
	MaxEntries = 1 << 20
	// MaxEntrySize bounds the entry size.
	MaxEntrySize = 256
)

// FlagNeedWakeup in the flags word means the consumer is going to sleep, or is
// asleep, and the producer must wake it after publishing new entries.
const FlagNeedWakeup uint32 = 1 << 0

// knownFlags is every flag bit this version defines.
const knownFlags = FlagNeedWakeup

// Size returns the number of bytes a ring of entries entries of entrySize bytes
// needs. It does not validate its arguments; Init does.
func Size(entries, entrySize int) int {
	return HeaderSize + entries*entrySize
}
