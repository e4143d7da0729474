package driver

import (
	"errors"
	"fmt"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// Reply bodies and their codecs, shared by the server (encode) and Conn (decode).

type helloReply struct{ Version uint16 }

func (r *helloReply) encode(b *builder) { b.u16(r.Version); b.u16(0); b.u32(0) }
func (r *helloReply) decode(p *payload) error {
	r.Version = p.u16()
	p.zero(6, "hello reply field")
	return p.end()
}

type registerReply struct {
	Handle uint32
	Size   uint64
}

func (r *registerReply) encode(b *builder) { b.u32(r.Handle); b.u32(0); b.u64(r.Size) }
func (r *registerReply) decode(p *payload) error {
	r.Handle = p.u32()
	p.zero(4, "register reply field")
	r.Size = p.u64()
	return p.end()
}

type createQueueReply struct{ Handle, Depth uint32 }

func (r *createQueueReply) encode(b *builder) { b.u32(r.Handle); b.u32(r.Depth) }
func (r *createQueueReply) decode(p *payload) error {
	r.Handle, r.Depth = p.u32(), p.u32()
	return p.end()
}

// handleReply carries a new key handle.
type handleReply struct{ Handle uint32 }

func (r *handleReply) encode(b *builder) { b.u32(r.Handle); b.u32(0) }
func (r *handleReply) decode(p *payload) error {
	r.Handle = p.u32()
	p.zero(4, "handle reply field")
	return p.end()
}

// opBitmap is a set of opcodes on the wire: 256 bits, bit o of byte o/8.
type opBitmap [32]byte

func bitmapOf(ops []ring.Opcode) (m opBitmap) {
	for _, o := range ops {
		m[o/8] |= 1 << (o % 8)
	}
	return m
}

func (m *opBitmap) ops() []ring.Opcode {
	var ops []ring.Opcode
	for o := 0; o < 256; o++ {
		if m[o/8]&(1<<(o%8)) != 0 {
			ops = append(ops, ring.Opcode(o))
		}
	}
	return ops
}

func encodeInfo(b *builder, in Info) {
	b.u32(uint32(in.Device.MaxDepth))
	if in.Device.TimingOnly {
		b.u8(1)
	} else {
		b.u8(0)
	}
	b.bytes([]byte{0, 0, 0})
	for _, e := range in.Device.Engines {
		b.u32(uint32(min(e, 1<<31)))
	}
	dev, allowed := bitmapOf(in.Device.Ops), bitmapOf(in.Ops)
	b.bytes(dev[:])
	b.bytes(allowed[:])
	r := in.Rule
	b.u32(uint32(r.MaxQueues))
	b.u32(uint32(r.MaxRegions))
	b.u64(uint64(r.MaxRegisteredBytes))
	b.u32(uint32(r.MaxKeys))
	b.u32(uint32(r.MaxInFlight))
	b.u32(uint32(r.Weight))
	b.u32(uint32(r.MaxContexts))
	for _, s := range []string{in.Device.Name, in.Device.Profile} {
		s = s[:min(len(s), 255)]
		b.u8(uint8(len(s)))
		b.bytes([]byte(s))
	}
}

func decodeInfo(p *payload) (Info, error) {
	var in Info
	in.Device.MaxDepth = int(p.u32())
	in.Device.TimingOnly = p.u8() != 0
	p.zero(3, "info field")
	for i := range in.Device.Engines {
		in.Device.Engines[i] = int(p.u32())
	}
	var dev, allowed opBitmap
	copy(dev[:], p.take(32))
	copy(allowed[:], p.take(32))
	in.Device.Ops, in.Ops = dev.ops(), allowed.ops()
	in.Rule.MaxQueues = int(p.u32())
	in.Rule.MaxRegions = int(p.u32())
	in.Rule.MaxRegisteredBytes = int64(p.u64())
	in.Rule.MaxKeys = int(p.u32())
	in.Rule.MaxInFlight = int(p.u32())
	in.Rule.Weight = int(p.u32())
	in.Rule.MaxContexts = int(p.u32())
	in.Rule.Allow(in.Ops...)
	for _, s := range []*string{&in.Device.Name, &in.Device.Profile} {
		*s = string(p.take(int(p.u8())))
	}
	return in, p.end()
}

const numWireStatus = 16

func encodeCounters(b *builder, c device.Counters) {
	for _, v := range []uint64{c.Submitted, c.Completed, c.BytesIn, c.BytesOut,
		uint64(c.Busy), uint64(c.HostLimited), c.QueueFull, c.Flushed} {
		b.u64(v)
	}
	for s := 0; s < numWireStatus; s++ {
		b.u64(c.ByStatus[ring.Status(s)])
	}
	b.u64(c.Throttled)
}

func decodeCounters(p *payload) (device.Counters, error) {
	var c device.Counters
	c.Submitted, c.Completed, c.BytesIn, c.BytesOut = p.u64(), p.u64(), p.u64(), p.u64()
	c.Busy, c.HostLimited = time.Duration(p.u64()), time.Duration(p.u64())
	c.QueueFull, c.Flushed = p.u64(), p.u64()
	c.ByStatus = map[ring.Status]uint64{}
	for s := 0; s < numWireStatus; s++ {
		if v := p.u64(); v != 0 {
			c.ByStatus[ring.Status(s)] = v
		}
	}
	c.Throttled = p.u64()
	return c, p.end()
}

// CtlError is a control request the driver refused.
type CtlError struct {
	Op     MsgType   // the request
	Status CtlStatus // why
	Msg    string    // the driver's explanation
}

func (e *CtlError) Error() string {
	return fmt.Sprintf("accelq %v: %v: %s", e.Op, e.Status, e.Msg)
}

// Is lets errors.Is match a refused request against the driver's sentinel errors.
func (e *CtlError) Is(target error) bool {
	switch e.Status {
	case CtlQuota:
		return target == ErrQuota
	case CtlNoEntry:
		return target == ErrBadHandle
	case CtlBadFD:
		return target == ErrUnsealed && e.Op == MsgRegister
	case CtlInvalid:
		return target == ErrInvalid
	}
	return false
}

// statusOf maps an error from a context method to a reply status.
func statusOf(err error) CtlStatus {
	switch {
	case err == nil:
		return CtlOK
	case errors.Is(err, ErrQuota):
		return CtlQuota
	case errors.Is(err, ErrBadHandle):
		return CtlNoEntry
	case errors.Is(err, ErrUnsealed), errors.Is(err, errBadFD):
		return CtlBadFD
	case errors.Is(err, ErrInvalid), errors.Is(err, device.ErrBadKey), errors.Is(err, errMalformed):
		return CtlInvalid
	}
	return CtlInternal
}
