package op

import (
	"unsafe"

	"github.com/accelq/accelq/ring"
)

// BuffersAlias reports whether a job's buffers overlap in a way Run's contract
// forbids: the destination may overlap neither the auxiliary buffer nor the
// source, except that with ring.SQEInPlace it may start at the source's first
// byte. The device and the software fallback both refuse such a job with
// ring.StatusBadAddress before calling Run.
func BuffersAlias(flags ring.SQEFlag, src, aux, dst []byte) bool {
	inPlace := flags&ring.SQEInPlace != 0 && len(src) > 0 && len(dst) > 0 &&
		unsafe.SliceData(src) == unsafe.SliceData(dst)
	return (!inPlace && overlap(src, dst)) || overlap(aux, dst)
}

func overlap(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	a0, b0 := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return a0 < b0+uintptr(len(b)) && b0 < a0+uintptr(len(a))
}
