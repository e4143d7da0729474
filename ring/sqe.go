package ring

import (
	"encoding/binary"
	"fmt"
)

// SQESize is the size of a submission queue entry in bytes.
const SQESize = 64

// SQE byte offsets. See docs/uapi.md for the meaning of each field per opcode.
const (
	sqeOpcode    = 0  // u8: Opcode
	sqeFlags     = 1  // u8: SQEFlag bits
	sqeParam     = 2  // u16: opcode parameter (level, hash, ...)
	sqeKey       = 4  // u32: key handle, 0 for none
	sqeUserData  = 8  // u64: returned unchanged in the CQE
	sqeSrc       = 16 // BufRef: input
	sqeDst       = 32 // BufRef: output
	sqeAuxRegion = 48 // u32: auxiliary buffer region
	sqeAuxLen    = 52 // u16: auxiliary buffer length
	sqeReserved  = 54 // u16: must be zero
	sqeAuxOff    = 56 // u64: auxiliary buffer offset
)

// SQEFlag is a bit in an SQE's flags byte.
type SQEFlag uint8

const (
	// SQEInPlace allows the destination to be the same bytes as the source (an
	// in-place cipher). Without it, any overlap of source and destination is refused.
	SQEInPlace SQEFlag = 1 << 0
	// SQEFence makes the device start this entry only after every earlier entry of
	// the same queue has completed.
	SQEFence SQEFlag = 1 << 1

	sqeKnownFlags = SQEInPlace | SQEFence
)

// MaxAuxLen is the largest auxiliary buffer an SQE can describe.
const MaxAuxLen = 1<<16 - 1

// BufRef names bytes in the submitter's own registered memory, like an SGE in
// verbs: a region handle returned by registration, an offset into that region and a
// length. Region 0 means no buffer, and then Off and Len must be zero.
type BufRef struct {
	Region uint32 // region handle; 0 for none
	Len    uint32 // length in bytes
	Off    uint64 // offset into the region
}

// IsZero reports whether r names no buffer.
func (r BufRef) IsZero() bool { return r == BufRef{} }

func (r BufRef) put(b []byte) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], r.Region)
	le.PutUint32(b[4:], r.Len)
	le.PutUint64(b[8:], r.Off)
}

func getBufRef(b []byte) BufRef {
	le := binary.LittleEndian
	return BufRef{Region: le.Uint32(b[0:]), Len: le.Uint32(b[4:]), Off: le.Uint64(b[8:])}
}

// SQE is a decoded submission queue entry.
type SQE struct {
	Opcode   Opcode  // the operation
	Flags    SQEFlag // SQEFlag bits
	Param    uint16  // opcode parameter: compression level, hash, salt length; see Opcode
	Key      uint32  // key handle from key import; 0 for none
	UserData uint64  // opaque to the device, returned in the CQE
	Src      BufRef  // input
	Dst      BufRef  // output
	Aux      BufRef  // nonce and AAD, tweak, signature or peer public key; Len <= MaxAuxLen
}

// Encode writes s into b, which must be at least SQESize bytes. It fails only if
// s cannot be represented: an auxiliary length above MaxAuxLen.
func (s *SQE) Encode(b []byte) error {
	if s.Aux.Len > MaxAuxLen {
		return fmt.Errorf("%w: auxiliary length %d exceeds %d", ErrBadEntry, s.Aux.Len, MaxAuxLen)
	}
	b = b[:SQESize]
	le := binary.LittleEndian
	b[sqeOpcode] = uint8(s.Opcode)
	b[sqeFlags] = uint8(s.Flags)
	le.PutUint16(b[sqeParam:], s.Param)
	le.PutUint32(b[sqeKey:], s.Key)
	le.PutUint64(b[sqeUserData:], s.UserData)
	s.Src.put(b[sqeSrc:])
	s.Dst.put(b[sqeDst:])
	le.PutUint32(b[sqeAuxRegion:], s.Aux.Region)
	le.PutUint16(b[sqeAuxLen:], uint16(s.Aux.Len))
	le.PutUint16(b[sqeReserved:], 0)
	le.PutUint64(b[sqeAuxOff:], s.Aux.Off)
	return nil
}

// Decode reads an SQE from b, which the caller has already copied out of shared
// memory. It checks the layout only: size, reserved bits and flag bits. Whether the
// opcode exists and the buffers make sense is for the device to judge. On error,
// UserData is still filled in when b is long enough, so the device can complete
// the entry with an error status.
func (s *SQE) Decode(b []byte) error {
	if len(b) < SQESize {
		return fmt.Errorf("%w: SQE of %d bytes, want %d", ErrBadEntry, len(b), SQESize)
	}
	le := binary.LittleEndian
	s.Opcode = Opcode(b[sqeOpcode])
	s.Flags = SQEFlag(b[sqeFlags])
	s.Param = le.Uint16(b[sqeParam:])
	s.Key = le.Uint32(b[sqeKey:])
	s.UserData = le.Uint64(b[sqeUserData:])
	s.Src = getBufRef(b[sqeSrc:])
	s.Dst = getBufRef(b[sqeDst:])
	s.Aux = BufRef{
		Region: le.Uint32(b[sqeAuxRegion:]),
		Len:    uint32(le.Uint16(b[sqeAuxLen:])),
		Off:    le.Uint64(b[sqeAuxOff:]),
	}
	if r := le.Uint16(b[sqeReserved:]); r != 0 {
		return fmt.Errorf("%w: SQE reserved field is %#x, must be zero", ErrBadEntry, r)
	}
	if f := s.Flags &^ sqeKnownFlags; f != 0 {
		return fmt.Errorf("%w: unknown SQE flag bits %#x", ErrBadEntry, uint8(f))
	}
	return nil
}
