package userdrv

import (
	"context"
	"fmt"

	"github.com/accelq/accelq/ring"
)

// Request is a job on plain byte slices: the copy path, for callers who do not
// manage registered buffers. Src and Aux are copied into registered memory
// before the job is submitted and the output is copied out after it completes.
type Request struct {
	Op     ring.Opcode
	Param  uint16
	Key    *Key
	Src    []byte
	Aux    []byte
	DstLen int // capacity to give the output
}

// Result is what a Request produced.
type Result struct {
	Out      []byte       // the output, appended to the dst given to Do
	Sum      uint64       // the CQE's auxiliary result: checksum, CRC32C
	CQEFlags ring.CQEFlag // ring.CQEFallback and friends
}

// Do runs req and waits for it. The output is appended to dst. If ctx ends
// first, Do returns ctx.Err() and the job's staging memory is released when the
// job completes.
func (q *Queue) Do(ctx context.Context, dst []byte, req Request) (Result, error) {
	if req.DstLen < 0 {
		return Result{}, fmt.Errorf("userdrv: negative destination length %d", req.DstLen)
	}
	n := len(req.Src) + len(req.Aux) + req.DstLen
	var buf *Buffer
	if n > 0 {
		var err error
		if buf, err = q.dev.Alloc(n); err != nil {
			return Result{}, err
		}
		defer buf.Free()
	}
	j := &Job{Op: req.Op, Param: req.Param, Key: req.Key}
	off := 0
	if len(req.Src) > 0 {
		copy(buf.b, req.Src)
		j.Src = Span{Buf: buf, Off: 0, Len: len(req.Src)}
		off = len(req.Src)
	}
	if len(req.Aux) > 0 {
		copy(buf.b[off:], req.Aux)
		j.Aux = Span{Buf: buf, Off: off, Len: len(req.Aux)}
		off += len(req.Aux)
	}
	if req.DstLen > 0 {
		j.Dst = Span{Buf: buf, Off: off, Len: req.DstLen}
	}
	if err := q.Submit(j); err != nil {
		return Result{}, err
	}
	if err := j.Wait(ctx); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && err == ctxErr {
			// The job may still be in flight: its result fields are the
			// reaper's to write, not ours to read.
			return Result{}, err
		}
		return Result{CQEFlags: j.CQEFlags}, err
	}
	return Result{Out: append(dst, j.Dst.bytes()[:j.N]...), Sum: j.Sum, CQEFlags: j.CQEFlags}, nil
}
