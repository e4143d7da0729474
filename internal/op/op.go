// Package op computes every accelq operation in software: the engines of the
// simulated device and the software fallback of the client library run the same
// code, so their results are byte-identical (randomised signatures aside: ECDSA is
// deterministic here, RFC 6979; RSA-PSS salts are random by definition).
//
// Run trusts nothing about its buffers beyond what the caller guarantees: src, aux
// and dst are distinct, non-overlapping byte ranges (or dst is exactly src for an
// in-place cipher), each with capacity equal to its length. Their contents may
// change while Run reads them (zero-copy client memory); that can spoil the
// result, never crash. Output is written only within dst.
package op

import (
	"fmt"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// Result is the outcome of one operation.
type Result struct {
	N      int         // bytes written to dst
	Aux    uint64      // auxiliary result for the CQE: a checksum, a CRC
	Status ring.Status // outcome
}

type impl struct {
	needKey bool
	run     func(param uint16, key *device.Key, src, aux, dst []byte) Result
}

var table [256]impl

func register(o ring.Opcode, needKey bool, run func(param uint16, key *device.Key, src, aux, dst []byte) Result) {
	if table[o].run != nil {
		panic(fmt.Sprintf("op: %v registered twice", o))
	}
	table[o] = impl{needKey: needKey, run: run}
}

func init() {
	register(ring.OpNop, false, func(uint16, *device.Key, []byte, []byte, []byte) Result { return Result{} })
}

// Implemented reports whether Run knows op.
func Implemented(o ring.Opcode) bool { return table[o].run != nil }

// NeedsKey reports whether op takes a key handle.
func NeedsKey(o ring.Opcode) bool { return table[o].needKey }

// Run computes op. key is nil for operations without a key. A panic inside an
// implementation (a defect, or a library refusing what the checks let through) is
// reported as StatusDeviceError, never propagated.
func Run(o ring.Opcode, param uint16, key *device.Key, src, aux, dst []byte) (res Result) {
	im := table[o]
	if im.run == nil {
		return Result{Status: ring.StatusInvalid}
	}
	switch {
	case im.needKey && key == nil:
		return Result{Status: ring.StatusNotPermitted}
	case im.needKey && !key.Allows(o):
		return Result{Status: ring.StatusNotPermitted}
	case !im.needKey && key != nil:
		return Result{Status: ring.StatusInvalid}
	}
	defer func() {
		if recover() != nil {
			res = Result{Status: ring.StatusDeviceError}
		}
	}()
	return im.run(param, key, src, aux, dst)
}
