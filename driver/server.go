package driver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

// maxGarbage is how many malformed messages a connection may send before the
// server hangs up on it. Clients make mistakes; a client that keeps making them
// is broken or hostile, and the daemon owes it nothing more.
const maxGarbage = 64

// replyTimeout bounds how long a reply may wait for a client that stopped
// reading its socket.
const replyTimeout = 5 * time.Second

// Server serves the control protocol to remote clients: each connection is a
// Context with the peer's kernel-reported credentials.
type Server struct {
	drv *Driver
	log *slog.Logger

	mu       sync.Mutex
	listener *net.UnixListener
	conns    map[*net.UnixConn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// NewServer returns a server for drv; log may be nil.
func NewServer(drv *Driver, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{drv: drv, log: log, conns: map[*net.UnixConn]struct{}{}}
}

// Listen creates a SOCK_SEQPACKET socket at path with the given file mode,
// replacing a stale socket file but nothing else.
func Listen(path string, mode os.FileMode) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("driver: %s exists and is not a socket", path)
		}
		if c, err := net.Dial("unixpacket", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("driver: a daemon is already serving %s", path)
		}
		os.Remove(path)
	}
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("driver: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("driver: chmod %s: %w", path, err)
	}
	return l, nil
}

// Serve accepts connections until Close. It returns nil after Close, once every
// connection is torn down, so that the caller may then close the driver and
// the device.
func (s *Server) Serve(l *net.UnixListener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.listener = l
	s.mu.Unlock()
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				s.wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			// EMFILE and the like: back off rather than spin, and keep serving.
			s.log.Warn("accept failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Close stops accepting, disconnects every client (tearing its context down)
// and waits for the connection handlers to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.listener != nil {
		s.listener.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// session is one connection's state.
type session struct {
	s      *Server
	conn   *net.UnixConn
	ctx    *Context
	log    *slog.Logger
	hello  bool
	bad    int
	cqBell map[uint32]*clientNotifier // CQ eventfds clients gave, by queue handle
}

func (s *Server) serveConn(c *net.UnixConn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	pc, err := unix.PeerCred(c)
	if err != nil {
		s.log.Warn("peer credentials", "err", err)
		return
	}
	cred := Cred{UID: pc.UID, GID: pc.GID, PID: pc.PID}
	ctx, err := s.drv.Open(cred)
	if err != nil {
		// Say why in the reply to the client's hello, then go. The hello must
		// be read first: a Unix socket closed with unread data resets its
		// peer, which loses the reply, and a client that had not sent its
		// hello yet would only see a broken pipe.
		s.log.Info("connection refused", "uid", cred.UID, "pid", cred.PID, "err", err)
		ss := &session{s: s, conn: c}
		ss.send(ctlHeader{Type: uint16(MsgHello) | ctlReply, Seq: refusedHello(c), Status: statusOf(err)}, []byte(errText(err)), nil)
		return
	}
	ss := &session{s: s, conn: c, ctx: ctx, cqBell: map[uint32]*clientNotifier{},
		log: s.log.With("uid", cred.UID, "pid", cred.PID)}
	ss.log.Debug("connected")
	defer ss.teardown()
	buf := make([]byte, MaxCtlMessage+1)
	oob := make([]byte, unix.RightsSpace(maxCtlFDs))
	for {
		n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			// A zero-length datagram reads as end of file, yet may have
			// carried descriptors: close them.
			fds, _ := unix.ParseRights(oob[:oobn])
			closeFDs(fds)
			ss.log.Debug("disconnected", "err", err)
			return
		}
		fds, ferr := unix.ParseRights(oob[:oobn])
		dataCut, ctlCut := unix.MsgTruncated(flags)
		var h ctlHeader
		var body []byte
		switch {
		case dataCut:
			err = fmt.Errorf("%w: larger than %d bytes", errMalformed, MaxCtlMessage)
		case ctlCut || ferr != nil || len(fds) > maxCtlFDs:
			err = fmt.Errorf("%w: more than %d descriptors or a bad control message", errMalformed, maxCtlFDs)
		default:
			h, body, err = parseHeader(buf[:n])
			if err == nil && h.Type&ctlReply != 0 {
				err = fmt.Errorf("%w: a reply sent as a request", errMalformed)
			}
		}
		if err != nil {
			closeFDs(fds)
			if !ss.malformed(h, err) {
				return
			}
			continue
		}
		st, reply, out, err := ss.dispatch(MsgType(h.Type), body, fds)
		clear(buf[:n]) // key material must not linger
		closeFDs(fds)  // dispatch took what it kept (set to -1)
		if st == CtlInvalid || st == CtlUnknown {
			if !ss.malformed(h, err) {
				return
			}
			continue
		}
		rh := ctlHeader{Type: h.Type | ctlReply, Seq: h.Seq, Status: st}
		if st != CtlOK {
			reply = []byte(errText(err))
			out = nil
		}
		if !ss.send(rh, reply, out) {
			return
		}
	}
}

// refusedHello reads a refused client's first message, waiting at most
// replyTimeout, closes any descriptors it carried and returns its sequence
// number, for the refusal to answer it.
func refusedHello(c *net.UnixConn) uint32 {
	buf := make([]byte, MaxCtlMessage+1)
	oob := make([]byte, unix.RightsSpace(maxCtlFDs))
	c.SetReadDeadline(time.Now().Add(replyTimeout))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	fds, _ := unix.ParseRights(oob[:oobn])
	closeFDs(fds)
	if err != nil {
		return 0
	}
	h, _, err := parseHeader(buf[:n])
	if err != nil {
		return 0
	}
	return h.Seq
}

// malformed answers a bad message and reports whether the connection may go on.
func (ss *session) malformed(h ctlHeader, err error) bool {
	ss.bad++
	st := CtlInvalid
	if errors.Is(err, errUnknownType) {
		st = CtlUnknown
	}
	if ss.bad > maxGarbage {
		ss.log.Info("disconnecting a client that keeps sending malformed messages", "count", ss.bad, "last", err)
		return false
	}
	return ss.send(ctlHeader{Type: h.Type | ctlReply, Seq: h.Seq, Status: st}, []byte(errText(err)), nil)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	return s[:min(len(s), maxErrText)]
}

func (ss *session) send(h ctlHeader, body []byte, fds []int) bool {
	msg := make([]byte, ctlHeaderSize, ctlHeaderSize+len(body))
	h.Length = uint16(len(body))
	putHeader(msg, h)
	msg = append(msg, body...)
	ss.conn.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, _, err := ss.conn.WriteMsgUnix(msg, unix.Rights(fds...), nil); err != nil {
		if ss.log != nil {
			ss.log.Info("reply failed; disconnecting", "err", err)
		}
		return false
	}
	return true
}

func (ss *session) teardown() {
	if err := ss.ctx.Close(); err != nil {
		ss.log.Warn("context teardown", "err", err)
	}
	for _, n := range ss.cqBell {
		n.Close()
	}
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

var errUnknownType = errors.New("unknown request type")

// dispatch runs one request. It returns the reply status, body and descriptors
// to pass; descriptors it keeps from fds it sets to -1.
func (ss *session) dispatch(t MsgType, body []byte, fds []int) (CtlStatus, []byte, []int, error) {
	p := &payload{b: body}
	var b builder
	if t != MsgHello && !ss.hello {
		return CtlInvalid, nil, nil, fmt.Errorf("%w: %v before hello", errMalformed, t)
	}
	noFDs := func() error {
		if len(fds) != 0 {
			return fmt.Errorf("%w: %v takes no descriptor, got %d", errBadFD, t, len(fds))
		}
		return nil
	}
	switch t {
	case MsgHello:
		var r helloReq
		if err := r.decode(p); err != nil {
			return CtlInvalid, nil, nil, err
		}
		if err := noFDs(); err != nil {
			return CtlBadFD, nil, nil, err
		}
		if r.Min > CtlVersion || r.Max < CtlVersion {
			return CtlNoVersion, nil, nil, fmt.Errorf("client speaks versions %d to %d, this daemon %d", r.Min, r.Max, CtlVersion)
		}
		ss.hello = true
		(&helloReply{Version: CtlVersion}).encode(&b)
	case MsgInfo:
		if err := p.end(); err != nil {
			return CtlInvalid, nil, nil, err
		}
		if err := noFDs(); err != nil {
			return CtlBadFD, nil, nil, err
		}
		encodeInfo(&b, ss.ctx.Info())
	case MsgRegister:
		var r registerReq
		if err := r.decode(p); err != nil {
			return CtlInvalid, nil, nil, err
		}
		if len(fds) != 1 {
			return CtlBadFD, nil, nil, fmt.Errorf("%w: register takes exactly one memfd, got %d descriptors", errBadFD, len(fds))
		}
		h, size, err := ss.ctx.RegisterMemory(fds[0], r.Flags&regWritable != 0)
		if err != nil {
			return statusOf(err), nil, nil, err
		}
		(&registerReply{Handle: h, Size: uint64(size)}).encode(&b)
	case MsgUnregister, MsgDestroyKey, MsgDestroyQueue, MsgQueueStats:
		var r handleReq
		if err := r.decode(p); err != nil {
			return CtlInvalid, nil, nil, err
		}
		if err := noFDs(); err != nil {
			return CtlBadFD, nil, nil, err
		}
		var err error
		switch t {
		case MsgUnregister:
			err = ss.ctx.UnregisterMemory(r.Handle)
		case MsgDestroyKey:
			err = ss.ctx.DestroyKey(r.Handle)
		case MsgDestroyQueue:
			if err = ss.ctx.DestroyQueue(r.Handle); err == nil {
				if n := ss.cqBell[r.Handle]; n != nil {
					n.Close()
					delete(ss.cqBell, r.Handle)
				}
			}
		case MsgQueueStats:
			var q *Queue
			if q, err = ss.ctx.Queue(r.Handle); err == nil {
				encodeCounters(&b, q.Stats())
			}
		}
		if err != nil {
			return statusOf(err), nil, nil, err
		}
	case MsgCreateQueue:
		return ss.createQueue(p, fds)
	case MsgImportKey:
		var r importKeyReq
		if err := r.decode(p); err != nil {
			return CtlInvalid, nil, nil, err
		}
		if err := noFDs(); err != nil {
			return CtlBadFD, nil, nil, err
		}
		h, err := ss.ctx.ImportKey(device.KeyKind(r.Kind), r.Material)
		if err != nil {
			return statusOf(err), nil, nil, err
		}
		(&handleReply{Handle: h}).encode(&b)
	default:
		return CtlUnknown, nil, nil, fmt.Errorf("%w %d", errUnknownType, uint16(t))
	}
	return CtlOK, b, nil, nil
}

var errBadFD = errors.New("bad descriptor")

func (ss *session) createQueue(p *payload, fds []int) (CtlStatus, []byte, []int, error) {
	var r createQueueReq
	if err := r.decode(p); err != nil {
		return CtlInvalid, nil, nil, err
	}
	want := 0
	if r.Flags&cqEventFD != 0 {
		want = 1
	}
	if len(fds) != want {
		return CtlBadFD, nil, nil, fmt.Errorf("%w: create-queue expects %d descriptors, got %d", errBadFD, want, len(fds))
	}
	opts := QueueOptions{Depth: int(r.Depth), Classes: r.Classes, CopyMode: r.Flags&cqCopyMode != 0, Weight: int(r.Weight)}
	var bell *clientNotifier
	if want == 1 {
		if !unix.IsEventFD(fds[0]) {
			return CtlBadFD, nil, nil, fmt.Errorf("%w: the completion notifier is not an eventfd", errBadFD)
		}
		efd, err := ring.EventNotifierFromFD(fds[0])
		if err != nil {
			return CtlBadFD, nil, nil, err
		}
		fds[0] = -1
		bell = newClientNotifier(efd)
		opts.CQNotifier = bell
	}
	q, err := ss.ctx.CreateQueue(opts)
	if err != nil {
		if bell != nil {
			bell.Close()
		}
		return statusOf(err), nil, nil, err
	}
	if bell != nil {
		ss.cqBell[q.Handle()] = bell
	}
	var b builder
	(&createQueueReply{Handle: q.Handle(), Depth: uint32(q.Depth())}).encode(&b)
	return CtlOK, b, []int{q.SQFD(), q.CQFD(), q.DoorbellFD()}, nil
}
