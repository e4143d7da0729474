package driver

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The control protocol: versioned binary messages over a Unix SOCK_SEQPACKET
// socket, one message per datagram, descriptors passed with SCM_RIGHTS. Every
// request gets exactly one reply carrying the request's sequence number and a
// status; a failed request's reply carries the error text. docs/uapi.md has the
// byte layouts.

const (
	// CtlMagic opens every control message: the bytes "AQCT".
	CtlMagic uint32 = 0x54435141
	// CtlVersion is the control protocol version this build speaks.
	CtlVersion uint16 = 1
	// ctlHeaderSize is the size of the message header.
	ctlHeaderSize = 16
	// MaxCtlMessage bounds a control message, header included: room for the
	// largest key import.
	MaxCtlMessage = ctlHeaderSize + 16 + 8192
	// maxCtlFDs is the most descriptors one message may carry.
	maxCtlFDs = 3
	// ctlReply marks a reply's type.
	ctlReply uint16 = 1 << 15
	// maxErrText bounds the error text in a reply.
	maxErrText = 512
)

// MsgType is a control request type.
type MsgType uint16

// Control requests.
const (
	MsgHello        MsgType = 1 // negotiate the version; must come first
	MsgInfo         MsgType = 2 // device and context description
	MsgRegister     MsgType = 3 // register a sealed memfd (1 descriptor)
	MsgUnregister   MsgType = 4 // unregister a region
	MsgCreateQueue  MsgType = 5 // create a queue pair (optional CQ eventfd); the reply passes SQ, CQ and doorbell
	MsgDestroyQueue MsgType = 6 // destroy a queue pair
	MsgImportKey    MsgType = 7 // import key material
	MsgDestroyKey   MsgType = 8 // destroy a key slot
	MsgQueueStats   MsgType = 9 // a queue's counters
)

var msgNames = map[MsgType]string{
	MsgHello: "hello", MsgInfo: "info", MsgRegister: "register", MsgUnregister: "unregister",
	MsgCreateQueue: "create-queue", MsgDestroyQueue: "destroy-queue", MsgImportKey: "import-key",
	MsgDestroyKey: "destroy-key", MsgQueueStats: "queue-stats",
}

func (t MsgType) String() string {
	if n, ok := msgNames[t]; ok {
		return n
	}
	return fmt.Sprintf("msg(%d)", uint16(t))
}

// CtlStatus is the status of a control reply.
type CtlStatus uint16

// Control reply statuses.
const (
	CtlOK           CtlStatus = 0 // done
	CtlInvalid      CtlStatus = 1 // malformed message or argument
	CtlNoVersion    CtlStatus = 2 // no common protocol version
	CtlNoEntry      CtlStatus = 3 // unknown handle
	CtlQuota        CtlStatus = 4 // a policy limit would be exceeded
	CtlNotPermitted CtlStatus = 5 // policy forbids it
	CtlBadFD        CtlStatus = 6 // missing, extra or unsuitable descriptor (unsealed memfd, not an eventfd)
	CtlInternal     CtlStatus = 7 // the daemon failed; the request had no effect
	CtlUnknown      CtlStatus = 8 // unknown request type
)

var ctlStatusNames = [...]string{"ok", "invalid", "version mismatch", "no such handle", "quota exceeded",
	"not permitted", "bad descriptor", "internal error", "unknown request"}

func (s CtlStatus) String() string {
	if int(s) < len(ctlStatusNames) {
		return ctlStatusNames[s]
	}
	return fmt.Sprintf("ctlstatus(%d)", uint16(s))
}

// ctlHeader is the 16-byte header of every control message.
type ctlHeader struct {
	Type   uint16 // MsgType; replies set bit 15
	Seq    uint32 // chosen by the client, echoed in the reply
	Status CtlStatus
	Length uint16 // payload bytes after the header
}

var errMalformed = errors.New("malformed control message")

func putHeader(b []byte, h ctlHeader) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], CtlMagic)
	le.PutUint16(b[4:], CtlVersion)
	le.PutUint16(b[6:], h.Type)
	le.PutUint32(b[8:], h.Seq)
	le.PutUint16(b[12:], uint16(h.Status))
	le.PutUint16(b[14:], h.Length)
}

// parseHeader validates a datagram's header against its size and returns the
// header and the payload.
func parseHeader(b []byte) (ctlHeader, []byte, error) {
	if len(b) < ctlHeaderSize {
		return ctlHeader{}, nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", errMalformed, len(b), ctlHeaderSize)
	}
	le := binary.LittleEndian
	if m := le.Uint32(b[0:]); m != CtlMagic {
		return ctlHeader{}, nil, fmt.Errorf("%w: magic %#08x, want %#08x", errMalformed, m, CtlMagic)
	}
	if v := le.Uint16(b[4:]); v != CtlVersion {
		return ctlHeader{}, nil, fmt.Errorf("%w: header version %d, want %d", errMalformed, v, CtlVersion)
	}
	h := ctlHeader{Type: le.Uint16(b[6:]), Seq: le.Uint32(b[8:]), Status: CtlStatus(le.Uint16(b[12:])), Length: le.Uint16(b[14:])}
	if int(h.Length) != len(b)-ctlHeaderSize {
		return ctlHeader{}, nil, fmt.Errorf("%w: header says %d payload bytes, datagram has %d", errMalformed, h.Length, len(b)-ctlHeaderSize)
	}
	return h, b[ctlHeaderSize:], nil
}

// payload is a cursor over a message body that reads fixed-size fields and
// records the first failure, so decoders read straight through and check once.
type payload struct {
	b   []byte
	err error
}

func (p *payload) take(n int) []byte {
	if p.err != nil {
		return nil
	}
	if len(p.b) < n {
		p.err = fmt.Errorf("%w: payload ends %d bytes early", errMalformed, n-len(p.b))
		return nil
	}
	v := p.b[:n]
	p.b = p.b[n:]
	return v
}

func (p *payload) u8() uint8 {
	if b := p.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (p *payload) u16() uint16 {
	if b := p.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (p *payload) u32() uint32 {
	if b := p.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (p *payload) u64() uint64 {
	if b := p.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// zero reads n reserved bytes that must be zero.
func (p *payload) zero(n int, what string) {
	for _, c := range p.take(n) {
		if c != 0 && p.err == nil {
			p.err = fmt.Errorf("%w: reserved %s is not zero", errMalformed, what)
		}
	}
}

// end fails if bytes are left over: every message has an exact size.
func (p *payload) end() error {
	if p.err == nil && len(p.b) != 0 {
		p.err = fmt.Errorf("%w: %d unexpected trailing bytes", errMalformed, len(p.b))
	}
	return p.err
}

// builder appends little-endian fields.
type builder []byte

func (b *builder) u8(v uint8)   { *b = append(*b, v) }
func (b *builder) u16(v uint16) { *b = binary.LittleEndian.AppendUint16(*b, v) }
func (b *builder) u32(v uint32) { *b = binary.LittleEndian.AppendUint32(*b, v) }
func (b *builder) u64(v uint64) { *b = binary.LittleEndian.AppendUint64(*b, v) }
func (b *builder) bytes(v []byte) {
	*b = append(*b, v...)
}

// Request bodies. Field order is wire order.

// Register flags.
const regWritable uint32 = 1 << 0

// Create-queue flags.
const (
	cqCopyMode uint8 = 1 << 0 // copy mode rather than zero-copy
	cqEventFD  uint8 = 1 << 1 // a CQ eventfd accompanies the request
)

type helloReq struct{ Min, Max uint16 }

func (r *helloReq) decode(p *payload) error {
	r.Min, r.Max = p.u16(), p.u16()
	p.zero(4, "hello field")
	return p.end()
}

func (r *helloReq) encode(b *builder) { b.u16(r.Min); b.u16(r.Max); b.u32(0) }

type registerReq struct{ Flags uint32 }

func (r *registerReq) decode(p *payload) error {
	r.Flags = p.u32()
	p.zero(4, "register field")
	if p.err == nil && r.Flags&^regWritable != 0 {
		return fmt.Errorf("%w: unknown register flags %#x", errMalformed, r.Flags&^regWritable)
	}
	return p.end()
}

func (r *registerReq) encode(b *builder) { b.u32(r.Flags); b.u32(0) }

// handleReq names a region, queue or key.
type handleReq struct{ Handle uint32 }

func (r *handleReq) decode(p *payload) error {
	r.Handle = p.u32()
	p.zero(4, "handle field")
	return p.end()
}

func (r *handleReq) encode(b *builder) { b.u32(r.Handle); b.u32(0) }

type createQueueReq struct {
	Depth   uint32
	Classes uint8
	Flags   uint8
	Weight  uint16
}

func (r *createQueueReq) decode(p *payload) error {
	r.Depth, r.Classes, r.Flags, r.Weight = p.u32(), p.u8(), p.u8(), p.u16()
	if p.err == nil && r.Flags&^(cqCopyMode|cqEventFD) != 0 {
		return fmt.Errorf("%w: unknown queue flags %#x", errMalformed, r.Flags&^(cqCopyMode|cqEventFD))
	}
	return p.end()
}

func (r *createQueueReq) encode(b *builder) {
	b.u32(r.Depth)
	b.u8(r.Classes)
	b.u8(r.Flags)
	b.u16(r.Weight)
}

type importKeyReq struct {
	Kind     uint8
	Material []byte
}

func (r *importKeyReq) decode(p *payload) error {
	r.Kind = p.u8()
	p.zero(3, "import-key field")
	n := p.u32()
	if p.err == nil && n > uint32(len(p.b)) {
		return fmt.Errorf("%w: key length %d exceeds the %d bytes sent", errMalformed, n, len(p.b))
	}
	r.Material = p.take(int(n))
	return p.end()
}

func (r *importKeyReq) encode(b *builder) {
	b.u8(r.Kind)
	b.u8(0)
	b.u16(0)
	b.u32(uint32(len(r.Material)))
	b.bytes(r.Material)
}
