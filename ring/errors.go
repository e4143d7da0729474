package ring

import "errors"

var (
	// ErrCorrupt means the peer published an impossible index: a tail behind the
	// head, or more than the ring size ahead of it. The ring cannot be used further
	// in that direction; the side that saw it should tear the queue down.
	ErrCorrupt = errors.New("ring: corrupt index")
	// ErrBadHeader means a region does not hold a valid ring header: wrong magic,
	// unsupported version, impossible geometry, non-zero reserved bytes, or a region
	// too small for the geometry it claims.
	ErrBadHeader = errors.New("ring: bad header")
	// ErrBadEntry means an entry's bytes do not decode: wrong size, unknown flag
	// bits, or a reserved field that is not zero.
	ErrBadEntry = errors.New("ring: bad entry")
)
