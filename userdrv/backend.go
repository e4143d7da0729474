package userdrv

import (
	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/driver"
	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

// backend is the control path: a driver context in this process, or a connection
// to acceld. The data path never goes through it.
type backend interface {
	info() (driver.Info, error)
	register(fd int, writable bool) (uint32, error)
	unregister(h uint32) error
	importKey(kind device.KeyKind, material []byte) (uint32, error)
	destroyKey(h uint32) error
	createQueue(opts driver.QueueOptions) (rings, error)
	destroyQueue(h uint32) error
	queueStats(h uint32) (device.Counters, error)
	// alive reports whether the driver is still there; it must be cheap.
	alive() bool
	close() error
}

// rings are a queue pair's rings as mapped in this process.
type rings struct {
	handle   uint32
	sq, cq   []byte
	doorbell ring.Notifier
	release  func() // unmaps what the backend mapped for the client
}

// embedded is a driver context in this process.
type embedded struct {
	dev device.Device
	drv *driver.Driver
	ctx *driver.Context
}

func (e *embedded) info() (driver.Info, error) { return e.ctx.Info(), nil }

func (e *embedded) register(fd int, writable bool) (uint32, error) {
	h, _, err := e.ctx.RegisterMemory(fd, writable)
	return h, err
}

func (e *embedded) unregister(h uint32) error { return e.ctx.UnregisterMemory(h) }

func (e *embedded) importKey(kind device.KeyKind, material []byte) (uint32, error) {
	return e.ctx.ImportKey(kind, material)
}

func (e *embedded) destroyKey(h uint32) error { return e.ctx.DestroyKey(h) }

func (e *embedded) createQueue(opts driver.QueueOptions) (rings, error) {
	q, err := e.ctx.CreateQueue(opts)
	if err != nil {
		return rings{}, err
	}
	// Map the rings again rather than borrow the driver's mappings: the driver
	// unmaps its own when the queue is destroyed, while the reaper may still be
	// reading the last completions. Exactly what a remote client does.
	sq, err := unix.MapShared(q.SQFD(), len(q.SQ()))
	if err != nil {
		e.ctx.DestroyQueue(q.Handle())
		return rings{}, err
	}
	cq, err := unix.MapShared(q.CQFD(), len(q.CQ()))
	if err != nil {
		unix.Unmap(sq)
		e.ctx.DestroyQueue(q.Handle())
		return rings{}, err
	}
	bell, closeBell, err := q.LocalDoorbell()
	if err != nil {
		unix.Unmap(sq)
		unix.Unmap(cq)
		e.ctx.DestroyQueue(q.Handle())
		return rings{}, err
	}
	return rings{handle: q.Handle(), sq: sq, cq: cq, doorbell: bell,
		release: func() { unix.Unmap(sq); unix.Unmap(cq); closeBell() }}, nil
}

func (e *embedded) destroyQueue(h uint32) error { return e.ctx.DestroyQueue(h) }

func (e *embedded) queueStats(h uint32) (device.Counters, error) {
	q, err := e.ctx.Queue(h)
	if err != nil {
		return device.Counters{}, err
	}
	return q.Stats(), nil
}

func (e *embedded) alive() bool { return true }

func (e *embedded) close() error {
	e.ctx.Close()
	e.drv.Close()
	return e.dev.Close()
}

// remote is a connection to acceld.
type remote struct{ cn *driver.Conn }

func (r *remote) info() (driver.Info, error) { return r.cn.Info() }

func (r *remote) register(fd int, writable bool) (uint32, error) {
	h, _, err := r.cn.RegisterMemory(fd, writable)
	return h, err
}

func (r *remote) unregister(h uint32) error { return r.cn.UnregisterMemory(h) }

func (r *remote) importKey(kind device.KeyKind, material []byte) (uint32, error) {
	return r.cn.ImportKey(kind, material)
}

func (r *remote) destroyKey(h uint32) error { return r.cn.DestroyKey(h) }

func (r *remote) createQueue(opts driver.QueueOptions) (rings, error) {
	q, err := r.cn.CreateQueue(opts, nil) // the daemon wakes us through the ring's futex
	if err != nil {
		return rings{}, err
	}
	return rings{handle: q.Handle, sq: q.SQ, cq: q.CQ, doorbell: q.Doorbell, release: func() { q.Close() }}, nil
}

func (r *remote) destroyQueue(h uint32) error { return r.cn.DestroyQueue(h) }

func (r *remote) queueStats(h uint32) (device.Counters, error) { return r.cn.QueueStats(h) }

func (r *remote) alive() bool { return r.cn.Alive() }

func (r *remote) close() error { return r.cn.Close() }
