package sim

import (
	"math/bits"
	"sync"

	"github.com/accelq/accelq/internal/op"
	"github.com/accelq/accelq/ring"
)

// Copy mode's private device memory: buffers recycled by power-of-two size
// class, so that copying a job in and out costs two copies and no allocation.

const (
	minCopyShift = 6  // 64 bytes
	maxCopyShift = 26 // 64 MiB; larger buffers are allocated for the job
)

var copyPools [maxCopyShift - minCopyShift + 1]sync.Pool

// private returns device memory of n bytes and a token to give back to release.
func private(n int) ([]byte, *[]byte) {
	if n == 0 {
		return nil, nil
	}
	c := max(bits.Len(uint(n-1)), minCopyShift) - minCopyShift
	if c >= len(copyPools) {
		return make([]byte, n), nil
	}
	if p, ok := copyPools[c].Get().(*[]byte); ok {
		return (*p)[:n:n], p
	}
	b := make([]byte, 1<<(c+minCopyShift))
	return b[:n:n], &b
}

// release gives back what private returned.
func release(p *[]byte) {
	if p == nil {
		return
	}
	c := bits.Len(uint(cap(*p)-1)) - minCopyShift
	copyPools[c].Put(p)
}

// runCopied computes j on private copies of its inputs and copies the output
// back: the hardened model, where the engine never touches client memory, so a
// client rewriting its buffers mid-operation can only change what was copied.
func (d *Device) runCopied(j *job) {
	src, ps := private(len(j.src))
	aux, pa := private(len(j.aux))
	dst, pd := private(len(j.dst))
	copy(src, j.src)
	copy(aux, j.aux)
	j.res = op.Run(j.sqe.Opcode, j.sqe.Param, j.key, src, aux, dst)
	if j.res.Status == ring.StatusOK {
		copy(j.dst, dst[:j.res.N])
	}
	release(ps)
	release(pa)
	release(pd)
}
