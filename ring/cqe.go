package ring

import (
	"encoding/binary"
	"fmt"
)

// CQESize is the size of a completion queue entry in bytes. 32 rather than 16:
// user data (8), result length (4), status (2) and flags (2) fill 16 bytes, and
// compression must also return a 64-bit checksum of the data, as QAT's 32-byte
// responses do, plus a device error code beside the status.
const CQESize = 32

// CQE byte offsets.
const (
	cqeUserData  = 0  // u64: the SQE's user data
	cqeResult    = 8  // u32: bytes written to the destination
	cqeStatus    = 12 // u16: Status
	cqeFlags     = 14 // u16: CQEFlag bits
	cqeAux       = 16 // u64: checksum or other auxiliary result
	cqeDevErr    = 24 // u32: device-specific error code, 0 unless Status is StatusDeviceError
	cqeReserved  = 28 // u32: must be zero
	cqeKnownFlag = CQEFallback | CQETimingOnly | CQEHostLimited
)

// CQEFlag is a bit in a CQE's flags field.
type CQEFlag uint16

const (
	// CQEFallback: the job ran in software on the client, not on the device.
	CQEFallback CQEFlag = 1 << 0
	// CQETimingOnly: the device ran in timing-only mode; the output is not valid.
	CQETimingOnly CQEFlag = 1 << 1
	// CQEHostLimited: the job completed later than the timing model allowed
	// because of the host: it could not compute the job in time, or the
	// device's front end posted the completion late.
	CQEHostLimited CQEFlag = 1 << 2
)

// CQE is a decoded completion queue entry.
type CQE struct {
	UserData uint64  // from the SQE
	Result   uint32  // bytes written to the destination
	Status   Status  // outcome
	Flags    CQEFlag // CQEFlag bits
	Aux      uint64  // CRC32 or xxhash64 of the uncompressed data for compression; else 0
	DevErr   uint32  // device error code beside StatusDeviceError
}

// Encode writes c into b, which must be at least CQESize bytes.
func (c *CQE) Encode(b []byte) {
	b = b[:CQESize]
	le := binary.LittleEndian
	le.PutUint64(b[cqeUserData:], c.UserData)
	le.PutUint32(b[cqeResult:], c.Result)
	le.PutUint16(b[cqeStatus:], uint16(c.Status))
	le.PutUint16(b[cqeFlags:], uint16(c.Flags))
	le.PutUint64(b[cqeAux:], c.Aux)
	le.PutUint32(b[cqeDevErr:], c.DevErr)
	le.PutUint32(b[cqeReserved:], 0)
}

// Decode reads a CQE from b, checking its size, flag bits and reserved field.
func (c *CQE) Decode(b []byte) error {
	if len(b) < CQESize {
		return fmt.Errorf("%w: CQE of %d bytes, want %d", ErrBadEntry, len(b), CQESize)
	}
	le := binary.LittleEndian
	c.UserData = le.Uint64(b[cqeUserData:])
	c.Result = le.Uint32(b[cqeResult:])
	c.Status = Status(le.Uint16(b[cqeStatus:]))
	c.Flags = CQEFlag(le.Uint16(b[cqeFlags:]))
	c.Aux = le.Uint64(b[cqeAux:])
	c.DevErr = le.Uint32(b[cqeDevErr:])
	if r := le.Uint32(b[cqeReserved:]); r != 0 {
		return fmt.Errorf("%w: CQE reserved field is %#x, must be zero", ErrBadEntry, r)
	}
	if f := c.Flags &^ cqeKnownFlag; f != 0 {
		return fmt.Errorf("%w: unknown CQE flag bits %#x", ErrBadEntry, uint16(f))
	}
	return nil
}
