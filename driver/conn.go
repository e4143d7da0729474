package driver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

// Conn is a client's connection to a driver served over a Unix socket (acceld):
// the remote form of a Context. It is safe for concurrent use; requests are
// serialised, one in flight at a time, since the control path is for setup and
// teardown only.
//
// Every request has a deadline (DefaultCallTimeout unless [WithCallTimeout]
// says otherwise), so a daemon that stops answering costs its clients an error,
// not a hung goroutine. A request that misses its deadline closes the Conn: a
// late reply would otherwise be taken for the answer to the next request.
type Conn struct {
	mu      sync.Mutex
	c       *net.UnixConn
	timeout time.Duration
	seq     uint32
	buf     []byte
	oob     []byte
	info    *Info
	broken  error // why the Conn stopped taking requests
}

// DefaultCallTimeout bounds each control request. The slowest request,
// destroying a queue, waits for the jobs its device is computing; even a
// 64 MiB compression job on the slowest profile finishes well within it.
const DefaultCallTimeout = 30 * time.Second

// DialOption configures Dial.
type DialOption func(*Conn)

// WithCallTimeout bounds each request on the connection, the version handshake
// included; 0 means no bound.
func WithCallTimeout(d time.Duration) DialOption { return func(cn *Conn) { cn.timeout = d } }

// Dial connects to the driver at path and negotiates the protocol version.
func Dial(path string, opts ...DialOption) (*Conn, error) {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("accelq: connect to %s: %w", path, err)
	}
	cn := &Conn{c: c, timeout: DefaultCallTimeout, buf: make([]byte, MaxCtlMessage+1), oob: make([]byte, unix.RightsSpace(maxCtlFDs))}
	for _, o := range opts {
		o(cn)
	}
	var b builder
	(&helloReq{Min: CtlVersion, Max: CtlVersion}).encode(&b)
	p, fds, err := cn.call(MsgHello, b, nil)
	closeFDs(fds)
	if err != nil {
		c.Close()
		return nil, err
	}
	var r helloReply
	if err := r.decode(p); err != nil {
		c.Close()
		return nil, fmt.Errorf("accelq: hello reply: %w", err)
	}
	return cn, nil
}

// Close disconnects; the driver tears the context down: queues, memory, keys.
// It does not wait for a request in progress, which fails. A second Close, or
// one after a request timed out and closed the connection, does nothing.
func (cn *Conn) Close() error {
	if err := cn.c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// timedOut closes a connection whose daemon stopped answering.
func (cn *Conn) timedOut() {
	cn.broken = fmt.Errorf("connection closed after a request got no answer within %v: %w", cn.timeout, ErrTimeout)
	cn.c.Close()
}

// call sends a request and waits for its reply. Descriptors in the reply belong
// to the caller.
func (cn *Conn) call(t MsgType, body []byte, fds []int) (*payload, []int, error) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.broken != nil {
		return nil, nil, fmt.Errorf("accelq %v: %w", t, cn.broken)
	}
	if cn.timeout > 0 {
		cn.c.SetDeadline(time.Now().Add(cn.timeout))
	}
	cn.seq++
	msg := make([]byte, ctlHeaderSize, ctlHeaderSize+len(body))
	putHeader(msg, ctlHeader{Type: uint16(t), Seq: cn.seq, Length: uint16(len(body))})
	msg = append(msg, body...)
	if _, _, err := cn.c.WriteMsgUnix(msg, unix.Rights(fds...), nil); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			cn.timedOut()
			return nil, nil, fmt.Errorf("accelq %v: not taken within %v: %w", t, cn.timeout, ErrTimeout)
		}
		return nil, nil, fmt.Errorf("accelq %v: send: %w", t, err)
	}
	n, oobn, flags, _, err := cn.c.ReadMsgUnix(cn.buf, cn.oob)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The reply may still come; nothing after it could be matched up.
			cn.timedOut()
			return nil, nil, fmt.Errorf("accelq %v: no reply within %v: %w", t, cn.timeout, ErrTimeout)
		}
		return nil, nil, fmt.Errorf("accelq %v: receive: %w", t, err)
	}
	got, ferr := unix.ParseRights(cn.oob[:oobn])
	if dataCut, ctlCut := unix.MsgTruncated(flags); dataCut || ctlCut || ferr != nil {
		closeFDs(got)
		return nil, nil, fmt.Errorf("accelq %v: truncated reply", t)
	}
	h, p, err := parseHeader(cn.buf[:n])
	if err != nil {
		closeFDs(got)
		return nil, nil, fmt.Errorf("accelq %v: reply: %w", t, err)
	}
	if h.Status != CtlOK && h.Type == uint16(t)|ctlReply && (h.Seq == cn.seq || h.Seq == 0 && t == MsgHello) {
		closeFDs(got)
		return nil, nil, &CtlError{Op: t, Status: h.Status, Msg: string(p)}
	}
	if h.Type != uint16(t)|ctlReply || h.Seq != cn.seq {
		closeFDs(got)
		return nil, nil, fmt.Errorf("accelq %v: reply out of order (type %#x, seq %d)", t, h.Type, h.Seq)
	}
	return &payload{b: append([]byte(nil), p...)}, got, nil
}

// Info describes the device and what this connection may do with it.
func (cn *Conn) Info() (Info, error) {
	p, fds, err := cn.call(MsgInfo, nil, nil)
	closeFDs(fds)
	if err != nil {
		return Info{}, err
	}
	return decodeInfo(p)
}

// RegisterMemory registers a memfd sealed with F_SEAL_SHRINK. The driver keeps
// its own reference; the caller may close fd afterwards.
func (cn *Conn) RegisterMemory(fd int, writable bool) (handle uint32, size int, err error) {
	r := registerReq{}
	if writable {
		r.Flags = regWritable
	}
	var b builder
	r.encode(&b)
	p, fds, err := cn.call(MsgRegister, b, []int{fd})
	closeFDs(fds)
	if err != nil {
		return 0, 0, err
	}
	var rep registerReply
	if err := rep.decode(p); err != nil {
		return 0, 0, err
	}
	return rep.Handle, int(rep.Size), nil
}

func (cn *Conn) handleCall(t MsgType, h uint32) (*payload, error) {
	var b builder
	(&handleReq{Handle: h}).encode(&b)
	p, fds, err := cn.call(t, b, nil)
	closeFDs(fds)
	return p, err
}

// UnregisterMemory unregisters a region.
func (cn *Conn) UnregisterMemory(h uint32) error {
	_, err := cn.handleCall(MsgUnregister, h)
	return err
}

// ImportKey hands key material to the driver and returns its handle. The
// material cannot be read back.
func (cn *Conn) ImportKey(kind device.KeyKind, material []byte) (uint32, error) {
	var b builder
	(&importKeyReq{Kind: uint8(kind), Material: material}).encode(&b)
	p, fds, err := cn.call(MsgImportKey, b, nil)
	clear(b)
	closeFDs(fds)
	if err != nil {
		return 0, err
	}
	var r handleReply
	if err := r.decode(p); err != nil {
		return 0, err
	}
	return r.Handle, nil
}

// DestroyKey destroys a key slot.
func (cn *Conn) DestroyKey(h uint32) error {
	_, err := cn.handleCall(MsgDestroyKey, h)
	return err
}

// RemoteQueue is a queue pair of a remote driver, mapped into this process.
type RemoteQueue struct {
	Handle   uint32              // the queue's handle in the connection
	SQ       []byte              // the submission ring, mapped
	CQ       []byte              // the completion ring, mapped
	Doorbell *ring.EventNotifier // the queue's doorbell, the SQ producer's notifier
	fds      [2]int
}

// Close unmaps the rings and closes their descriptors. Destroy the queue on the
// driver first (DestroyQueue), or close the connection.
func (q *RemoteQueue) Close() error {
	unix.Unmap(q.SQ)
	unix.Unmap(q.CQ)
	unix.Close(q.fds[0])
	unix.Close(q.fds[1])
	return q.Doorbell.Close()
}

// CreateQueue creates a queue pair and maps its rings. cqEvent, if not nil, is
// an eventfd the device signals when the client asked to be woken (the CQ's
// notifier); the client keeps its own descriptor.
func (cn *Conn) CreateQueue(opts QueueOptions, cqEvent *ring.EventNotifier) (*RemoteQueue, error) {
	r := createQueueReq{Depth: uint32(opts.Depth), Classes: opts.Classes, Weight: uint16(opts.Weight)}
	if opts.CopyMode {
		r.Flags |= cqCopyMode
	}
	var send []int
	if cqEvent != nil {
		r.Flags |= cqEventFD
		send = []int{cqEvent.FD()}
	}
	var b builder
	r.encode(&b)
	p, fds, err := cn.call(MsgCreateQueue, b, send)
	if err != nil {
		closeFDs(fds)
		return nil, err
	}
	var rep createQueueReply
	if err := rep.decode(p); err != nil || len(fds) != 3 {
		closeFDs(fds)
		return nil, fmt.Errorf("accelq create-queue: bad reply (%d descriptors): %v", len(fds), err)
	}
	q, err := mapRemoteQueue(rep, fds)
	if err != nil {
		closeFDs(fds)
		cn.DestroyQueue(rep.Handle)
		return nil, err
	}
	return q, nil
}

func mapRemoteQueue(rep createQueueReply, fds []int) (*RemoteQueue, error) {
	depth := int(rep.Depth)
	sqSize := ring.Size(depth, ring.SQESize)
	cqSize := ring.Size(depth, ring.CQESize)
	for i, want := range []int{sqSize, cqSize} {
		if got, err := unix.FileSize(fds[i]); err != nil || got < int64(want) {
			return nil, fmt.Errorf("accelq create-queue: ring memfd of %d bytes, want %d", got, want)
		}
	}
	sq, err := unix.MapShared(fds[0], sqSize)
	if err != nil {
		return nil, err
	}
	cq, err := unix.MapShared(fds[1], cqSize)
	if err != nil {
		unix.Unmap(sq)
		return nil, err
	}
	bell, err := ring.EventNotifierFromFD(fds[2])
	if err != nil {
		unix.Unmap(sq)
		unix.Unmap(cq)
		return nil, err
	}
	return &RemoteQueue{Handle: rep.Handle, SQ: sq, CQ: cq, Doorbell: bell, fds: [2]int{fds[0], fds[1]}}, nil
}

// DestroyQueue destroys a queue pair on the driver. Jobs not started complete
// with StatusFlushed; the call returns when the device has let go of the queue.
func (cn *Conn) DestroyQueue(h uint32) error {
	_, err := cn.handleCall(MsgDestroyQueue, h)
	return err
}

// QueueStats returns a queue's counters.
func (cn *Conn) QueueStats(h uint32) (device.Counters, error) {
	p, err := cn.handleCall(MsgQueueStats, h)
	if err != nil {
		return device.Counters{}, err
	}
	return decodeCounters(p)
}

// Alive reports whether the daemon is still at the other end. It costs one
// poll(2) and never blocks, so a client can ask while it waits for completions
// that a dead daemon will never post.
func (cn *Conn) Alive() bool { return !unix.PeerClosed(cn.c) }
