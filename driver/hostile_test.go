package driver

// The hostile-client suite: each test starts a real acceld (acceld_test.go),
// runs a well-behaved client beside a hostile one, and checks that the daemon
// survives (and exits 0 on SIGTERM), that the well-behaved client's jobs all
// completed correctly, and that every hostile request was refused with a clear
// status: a CQE status, or a *CtlError with a control status.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	xunix "golang.org/x/sys/unix"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/hostilefd"
	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

// ---------------------------------------------------------------------------
// The well-behaved client.

// goodClient runs SHA-256 jobs through its own connection and queue on a
// goroutine, checking every digest, until finish.
type goodClient struct {
	cn   *Conn
	rq   *RemoteQueue
	stop chan struct{}
	done chan struct{}
	jobs atomic.Int64
	err  error // first failure, valid after done
	once sync.Once
}

const (
	goodSlots  = 8       // jobs per round
	goodSlot   = 4096    // source bytes per slot
	goodDst    = 1 << 15 // digests start here
	goodRegion = 1 << 16
)

// startGoodClient connects to d and starts the well-behaved client. It returns
// once the client has completed its first jobs.
func startGoodClient(t testing.TB, d *daemon) *goodClient {
	t.Helper()
	fd, mem := sealedMemfd(t, goodRegion)
	cn, err := Dial(d.sock)
	if err != nil {
		t.Fatalf("good client: %v", err)
	}
	h, _, err := cn.RegisterMemory(fd, true)
	if err != nil {
		t.Fatalf("good client: %v", err)
	}
	rq, err := cn.CreateQueue(QueueOptions{Depth: 16}, nil)
	if err != nil {
		t.Fatalf("good client: %v", err)
	}
	sq, err := ring.NewProducer(rq.SQ)
	if err != nil {
		t.Fatal(err)
	}
	sq.SetNotifier(rq.Doorbell)
	cq, err := ring.NewConsumer(rq.CQ)
	if err != nil {
		t.Fatal(err)
	}
	g := &goodClient{cn: cn, rq: rq, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		g.err = g.run(sq, cq, h, mem)
	}()
	t.Cleanup(g.halt)
	for deadline := time.Now().Add(30 * time.Second); g.jobs.Load() < goodSlots; {
		select {
		case <-g.done:
			t.Fatalf("good client failed at start: %v", g.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("good client: no job completed within 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	return g
}

func (g *goodClient) run(sq *ring.Producer, cq *ring.Consumer, h uint32, mem []byte) error {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var want [goodSlots][32]byte
	var lens [goodSlots]int
	cqes := make([]byte, goodSlots*ring.CQESize)
	for round := uint64(0); ; round++ {
		select {
		case <-g.stop:
			return nil
		default:
		}
		for i := range goodSlots {
			n := 1 + rng.IntN(goodSlot)
			src := mem[i*goodSlot : i*goodSlot+n]
			for k := 0; k < n; k += 8 {
				var w [8]byte
				binary.LittleEndian.PutUint64(w[:], rng.Uint64())
				copy(src[k:], w[:])
			}
			clear(mem[goodDst+i*32 : goodDst+i*32+32])
			want[i], lens[i] = sha256.Sum256(src), n
		}
		if n, err := sq.Reserve(goodSlots); n != goodSlots || err != nil {
			return fmt.Errorf("round %d: reserved %d of %d SQ entries: %v", round, n, goodSlots, err)
		}
		for i := range goodSlots {
			s := ring.SQE{Opcode: ring.OpSHA256, UserData: round*goodSlots + uint64(i),
				Src: ring.BufRef{Region: h, Off: uint64(i * goodSlot), Len: uint32(lens[i])},
				Dst: ring.BufRef{Region: h, Off: uint64(goodDst + i*32), Len: 32}}
			if err := s.Encode(sq.Entry(i)); err != nil {
				return err
			}
		}
		sq.Commit(goodSlots)
		if _, err := sq.Wake(); err != nil {
			return err
		}
		seen := 0
		for got, deadline := 0, time.Now().Add(30*time.Second); got < goodSlots; {
			if _, err := cq.Wait(2000, 50*time.Millisecond); err != nil {
				return fmt.Errorf("round %d: CQ: %w", round, err)
			}
			n, err := cq.Pop(cqes[:(goodSlots-got)*ring.CQESize])
			if err != nil {
				return fmt.Errorf("round %d: CQ: %w", round, err)
			}
			for k := range n {
				var c ring.CQE
				if err := c.Decode(cqes[k*ring.CQESize:]); err != nil {
					return fmt.Errorf("round %d: %w", round, err)
				}
				i := int(c.UserData - round*goodSlots)
				if c.UserData < round*goodSlots || i >= goodSlots || seen&(1<<i) != 0 {
					return fmt.Errorf("round %d: unexpected CQE %+v", round, c)
				}
				seen |= 1 << i
				if c.Status != ring.StatusOK || c.Result != 32 {
					return fmt.Errorf("round %d: job %d completed with %v (result %d)", round, i, c.Status, c.Result)
				}
				if d := mem[goodDst+i*32 : goodDst+i*32+32]; !bytes.Equal(d, want[i][:]) {
					return fmt.Errorf("round %d: job %d digest %x, want %x", round, i, d, want[i])
				}
			}
			got += n
			if n == 0 && time.Now().After(deadline) {
				return fmt.Errorf("round %d: %d of %d completions in 30 s", round, got, goodSlots)
			}
		}
		g.jobs.Add(goodSlots)
		time.Sleep(500 * time.Microsecond) // beside the hostile client, not racing it for the two cores
	}
}

// halt stops the client and releases its queue and connection.
func (g *goodClient) halt() {
	g.once.Do(func() {
		close(g.stop)
		<-g.done
		g.rq.Close()
		g.cn.Close()
	})
}

// finish stops the client and checks that every one of its jobs completed
// correctly and that the daemon's counters agree.
func (g *goodClient) finish(t testing.TB) {
	t.Helper()
	close(g.stop)
	<-g.done
	if g.err != nil {
		t.Errorf("the well-behaved client failed: %v", g.err)
	}
	st, err := g.cn.QueueStats(g.rq.Handle)
	if err != nil {
		t.Errorf("the well-behaved client's stats: %v", err)
	}
	n := g.jobs.Load()
	if g.err == nil && (st.Completed != uint64(n) || st.Submitted != uint64(n) || len(st.ByStatus) != 0) {
		t.Errorf("the well-behaved client ran %d jobs; the daemon counted %+v", n, st)
	}
	if err := g.cn.DestroyQueue(g.rq.Handle); err != nil {
		t.Errorf("the well-behaved client's destroy-queue: %v", err)
	}
	g.once.Do(func() { g.rq.Close(); g.cn.Close() })
	t.Logf("the well-behaved client completed %d SHA-256 jobs, every digest correct", n)
}

// ---------------------------------------------------------------------------
// Hostile clients.

// hostile is a connection driven by the test goroutine.
type hostile struct {
	t  testing.TB
	cn *Conn
}

func dialHostile(t testing.TB, d *daemon) *hostile {
	t.Helper()
	cn, err := Dial(d.sock)
	if err != nil {
		t.Fatalf("hostile client: %v", err)
	}
	t.Cleanup(func() { cn.Close() })
	return &hostile{t: t, cn: cn}
}

// region registers a new sealed memfd of size bytes and returns its handle and
// the client's mapping.
func (h *hostile) region(size int, writable bool) (uint32, []byte, int) {
	h.t.Helper()
	fd, mem := sealedMemfd(h.t, size)
	hd, got, err := h.cn.RegisterMemory(fd, writable)
	if err != nil {
		h.t.Fatal(err)
	}
	if got != size {
		h.t.Fatalf("registered %d bytes, want %d", got, size)
	}
	return hd, mem, fd
}

// remoteQueue is a queue of a connection with a ring client attached.
type remoteQueue struct {
	*client
	rq *RemoteQueue
}

func (h *hostile) queue(opts QueueOptions) *remoteQueue {
	h.t.Helper()
	rq, err := h.cn.CreateQueue(opts, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { rq.Close() })
	return &remoteQueue{client: newRingClient(h.t, rq.SQ, rq.CQ, rq.Doorbell, nil), rq: rq}
}

// expect runs s and checks the status, user data and that nothing was written.
func (q *remoteQueue) expect(what string, s ring.SQE, want ring.Status) {
	q.t.Helper()
	c := q.run(s)
	if c.Status != want || c.UserData != s.UserData || (want != ring.StatusOK && c.Result != 0) {
		q.t.Errorf("%s: CQE %+v (%v), want %v with user data %d", what, c, c.Status, want, s.UserData)
	}
}

// quiet reports whether no CQE arrives within d.
func (q *remoteQueue) quiet(d time.Duration) bool {
	q.t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		n, err := q.cq.Available()
		if err != nil {
			q.t.Fatal(err)
		}
		if n > 0 {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

func checksum(b []byte) [32]byte { return sha256.Sum256(b) }

func ctlStatus(err error) (CtlStatus, bool) {
	var ce *CtlError
	if errors.As(err, &ce) {
		return ce.Status, true
	}
	return 0, false
}

// wantCtl checks that err is a refusal with the given status.
func wantCtl(t testing.TB, what string, err error, want CtlStatus) {
	t.Helper()
	st, ok := ctlStatus(err)
	if !ok || st != want {
		t.Errorf("%s: %v, want a refusal with status %q", what, err, want)
		return
	}
	var ce *CtlError
	errors.As(err, &ce)
	if ce.Msg == "" {
		t.Errorf("%s: refused with status %q but no explanation", what, want)
	}
}

// ---------------------------------------------------------------------------
// 1. Another client's region handle.

func TestHostileForeignRegion(t *testing.T) {
	d := startDaemon(t, "")
	good := startGoodClient(t, d)

	victim := dialHostile(t, d)
	hA, memA, _ := victim.region(1<<16, true)
	for i := range memA {
		memA[i] = byte(i*7 + 3)
	}
	sumA := checksum(memA)
	kA, err := victim.cn.ImportKey(device.KeyHMAC, []byte("the victim's MAC key"))
	if err != nil {
		t.Fatal(err)
	}

	b := dialHostile(t, d)
	hB, memB, _ := b.region(1<<14, true)
	if hA == hB || kA == hB {
		t.Skip("handle collision between contexts (probability 2^-32)")
	}
	copy(memB, "the hostile client's own bytes")
	q := b.queue(QueueOptions{Depth: 32})
	own := ring.BufRef{Region: hB, Len: 16}
	dst := ring.BufRef{Region: hB, Off: 8192, Len: 64}
	cases := []struct {
		name string
		s    ring.SQE
		want ring.Status
	}{
		{"foreign source", ring.SQE{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: hA, Len: 64}, Dst: dst}, ring.StatusBadAddress},
		{"foreign destination", ring.SQE{Opcode: ring.OpSHA256, Src: own, Dst: ring.BufRef{Region: hA, Off: 100, Len: 32}}, ring.StatusBadAddress},
		{"foreign source and destination", ring.SQE{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: hA, Len: 8}, Dst: ring.BufRef{Region: hA, Off: 4096, Len: 32}}, ring.StatusBadAddress},
		{"foreign aux", ring.SQE{Opcode: ring.OpCRC32C, Src: own, Aux: ring.BufRef{Region: hA, Len: 4}}, ring.StatusBadAddress},
		{"foreign key", ring.SQE{Opcode: ring.OpHMACSHA256, Key: kA, Src: own, Dst: dst}, ring.StatusNotPermitted},
		{"foreign key, foreign buffers", ring.SQE{Opcode: ring.OpHMACSHA256, Key: kA, Src: ring.BufRef{Region: hA, Len: 64}, Dst: ring.BufRef{Region: hA, Off: 64, Len: 32}}, ring.StatusNotPermitted},
		{"own queue handle as a region", ring.SQE{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: q.rq.Handle, Len: 8}, Dst: dst}, ring.StatusBadAddress},
		{"foreign AEAD, in place", ring.SQE{Opcode: ring.OpAESGCMSeal, Flags: ring.SQEInPlace, Key: kA,
			Src: ring.BufRef{Region: hA, Len: 64}, Dst: ring.BufRef{Region: hA, Len: 80}, Aux: ring.BufRef{Region: hB, Len: 12}}, ring.StatusNotPermitted},
	}
	for i, c := range cases {
		c.s.UserData = uint64(1000 + i)
		q.expect(c.name, c.s, c.want)
	}
	// Guessed handles: none of them translates.
	rng := rand.New(rand.NewPCG(1, 2))
	guesses := 500
	if testing.Short() {
		guesses = 100
	}
	for i := range guesses {
		g := rng.Uint32()
		if g == hB || g == 0 {
			continue
		}
		q.expect("guessed region "+strconv.FormatUint(uint64(g), 16),
			ring.SQE{Opcode: ring.OpSHA256, UserData: uint64(i), Src: ring.BufRef{Region: g, Len: 1}, Dst: dst}, ring.StatusBadAddress)
	}
	if checksum(memA) != sumA {
		t.Error("the victim's memory changed")
	}
	for i, v := range memB[8192 : 8192+64] {
		if v != 0 {
			t.Fatalf("refused jobs wrote the hostile client's destination byte %d", i)
		}
	}
	// The hostile client's own memory still works.
	q.expect("own buffers", ring.SQE{Opcode: ring.OpSHA256, UserData: 1, Src: own, Dst: ring.BufRef{Region: hB, Off: 8192, Len: 32}}, ring.StatusOK)
	if want := sha256.Sum256(memB[:16]); !bytes.Equal(memB[8192:8192+32], want[:]) {
		t.Error("the hostile client's own job computed a wrong digest")
	}
	// The victim's region is still its own, and intact.
	vq := victim.queue(QueueOptions{Depth: 4})
	vq.expect("victim's own job", ring.SQE{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: hA, Len: 1024}, Dst: ring.BufRef{Region: hA, Off: 1 << 15, Len: 32}}, ring.StatusOK)
	good.finish(t)
	d.stop(t)
}

// ---------------------------------------------------------------------------
// 2. Offsets and lengths that overflow.

func TestHostileOverflow(t *testing.T) {
	d := startDaemon(t, "")
	good := startGoodClient(t, d)
	b := dialHostile(t, d)
	const size = 4096
	h, mem, _ := b.region(size, true)
	ro, _, _ := b.region(size, false)
	key, err := b.cn.ImportKey(device.KeyAES, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	for i := range mem[:2048] {
		mem[i] = byte(i)
	}
	sum := checksum(mem)
	q := b.queue(QueueOptions{Depth: 16})
	src := ring.BufRef{Region: h, Len: 64}
	dst := ring.BufRef{Region: h, Off: 2048, Len: 64}
	bad := []struct {
		name string
		ref  ring.BufRef
	}{
		{"offset near 2^64", ring.BufRef{Region: h, Off: ^uint64(0) - 3, Len: 8}},
		{"offset 2^64-1, length 1", ring.BufRef{Region: h, Off: ^uint64(0), Len: 1}},
		{"offset+length wraps to a small number", ring.BufRef{Region: h, Off: ^uint64(0) - 10, Len: 100}},
		{"offset+length wraps exactly to 0", ring.BufRef{Region: h, Off: ^uint64(0) - 99, Len: 100}},
		{"offset 2^63, length 2^32-1", ring.BufRef{Region: h, Off: 1 << 63, Len: ^uint32(0)}},
		{"offset at the end, length 1", ring.BufRef{Region: h, Off: size, Len: 1}},
		{"offset past the end", ring.BufRef{Region: h, Off: size + 1}},
		{"length one past the end", ring.BufRef{Region: h, Off: size - 1, Len: 2}},
		{"length larger than the region", ring.BufRef{Region: h, Len: size + 1}},
		{"length 2^32-1", ring.BufRef{Region: h, Len: ^uint32(0)}},
		{"offset 2^32 (a 32-bit truncation would be 0)", ring.BufRef{Region: h, Off: 1 << 32, Len: 8}},
		{"no region but an offset", ring.BufRef{Off: 8}},
		{"no region but a length", ring.BufRef{Len: 8}},
	}
	n := uint64(0)
	for _, c := range bad {
		n++
		q.expect("source: "+c.name, ring.SQE{Opcode: ring.OpSHA256, UserData: n, Src: c.ref, Dst: dst}, ring.StatusBadAddress)
		n++
		q.expect("destination: "+c.name, ring.SQE{Opcode: ring.OpSHA256, UserData: n, Src: src, Dst: c.ref}, ring.StatusBadAddress)
		if c.ref.Len <= ring.MaxAuxLen { // an SQE cannot say more
			n++
			q.expect("aux: "+c.name, ring.SQE{Opcode: ring.OpAESGCMSeal, Key: key, UserData: n, Src: src,
				Dst: ring.BufRef{Region: h, Off: 2048, Len: 80}, Aux: c.ref}, ring.StatusBadAddress)
		}
	}
	// Writes to a read-only region and overlapping buffers are bad addresses too.
	q.expect("read-only destination", ring.SQE{Opcode: ring.OpSHA256, UserData: 900, Src: src, Dst: ring.BufRef{Region: ro, Len: 32}}, ring.StatusBadAddress)
	q.expect("overlap", ring.SQE{Opcode: ring.OpSHA256, UserData: 901, Src: ring.BufRef{Region: h, Len: 64}, Dst: ring.BufRef{Region: h, Off: 32, Len: 32}}, ring.StatusBadAddress)
	if checksum(mem) != sum {
		t.Error("refused jobs changed the region")
	}
	// The checks are not too strict: the last bytes of the region are usable,
	// and an empty buffer at the very end is a valid reference.
	q.expect("last 32 bytes", ring.SQE{Opcode: ring.OpSHA256, UserData: 902, Src: src, Dst: ring.BufRef{Region: h, Off: size - 32, Len: 32}}, ring.StatusOK)
	q.expect("empty source at the end", ring.SQE{Opcode: ring.OpSHA256, UserData: 903, Src: ring.BufRef{Region: h, Off: size}, Dst: ring.BufRef{Region: h, Off: 2048, Len: 32}}, ring.StatusOK)
	if want := sha256.Sum256(nil); !bytes.Equal(mem[2048:2048+32], want[:]) {
		t.Errorf("digest of nothing: %x", mem[2048:2048+32])
	}
	good.finish(t)
	d.stop(t)
}

// ---------------------------------------------------------------------------
// 3. Unsealed memory, and other descriptors that are not sealed memfds.

func TestHostileUnsealedMemfd(t *testing.T) {
	d := startDaemon(t, "")
	good := startGoodClient(t, d)
	b := dialHostile(t, d)
	unsealed, _ := newMemfd(t, 4096, 0)
	_, _, err := b.cn.RegisterMemory(unsealed, true)
	if !errors.Is(err, ErrUnsealed) {
		t.Errorf("unsealed memfd: %v, want ErrUnsealed", err)
	}
	wantCtl(t, "unsealed memfd", err, CtlBadFD)
	t.Log(err)
	growSealed, _ := newMemfd(t, 4096, unix.SealGrow)
	_, _, err = b.cn.RegisterMemory(growSealed, false)
	if !errors.Is(err, ErrUnsealed) {
		t.Errorf("memfd sealed only against growth: %v, want ErrUnsealed", err)
	}
	// Truncating the unsealed memfd afterwards cannot hurt the daemon: it never
	// mapped it.
	if err := xunix.Ftruncate(unsealed, 0); err != nil {
		t.Fatal(err)
	}
	// Descriptors that are not memfds at all.
	r, w, err := pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(r)
	defer unix.Close(w)
	efd, err := ring.NewEventNotifier()
	if err != nil {
		t.Fatal(err)
	}
	defer efd.Close()
	empty, _ := newMemfd(t, 0, unix.SealShrink)
	for name, fd := range map[string]int{"pipe": r, "eventfd": efd.FD(), "empty memfd": empty} {
		_, _, err := b.cn.RegisterMemory(fd, true)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("registering a %s: %v, want ErrInvalid", name, err)
		}
		wantCtl(t, name, err, CtlInvalid)
	}
	// A write-sealed memfd cannot be registered writable.
	wsealed, _ := newMemfd(t, 4096, unix.SealShrink|xunix.F_SEAL_WRITE)
	_, _, err = b.cn.RegisterMemory(wsealed, true)
	if _, ok := ctlStatus(err); !ok {
		t.Errorf("registering a write-sealed memfd writable: %v, want a refusal", err)
	}
	t.Logf("write-sealed memfd registered writable: %v", err)
	// The session goes on: a sealed memfd registers and works.
	h, mem, _ := b.region(4096, true)
	copy(mem, "sealed")
	q := b.queue(QueueOptions{Depth: 4})
	q.expect("sealed region", ring.SQE{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: h, Len: 6}, Dst: ring.BufRef{Region: h, Off: 64, Len: 32}}, ring.StatusOK)
	good.finish(t)
	d.stop(t)
}

func pipe() (int, int, error) {
	var p [2]int
	err := syscall.Pipe2(p[:], syscall.O_CLOEXEC)
	return p[0], p[1], err
}

// ---------------------------------------------------------------------------
// 4. Shrinking a registered memfd.

func TestHostileShrinkRegistered(t *testing.T) {
	d := startDaemon(t, "")
	good := startGoodClient(t, d)
	b := dialHostile(t, d)
	const size = 1 << 16
	h, mem, fd := b.region(size, true)
	for i := range mem {
		mem[i] = byte(i)
	}
	q := b.queue(QueueOptions{Depth: 8})
	for _, n := range []int64{0, 4096, size - 1} {
		if err := xunix.Ftruncate(fd, n); !errors.Is(err, xunix.EPERM) {
			t.Fatalf("ftruncate of a registered memfd to %d bytes: %v, want EPERM", n, err)
		}
	}
	if err := xunix.Fallocate(fd, xunix.FALLOC_FL_PUNCH_HOLE|xunix.FALLOC_FL_KEEP_SIZE, 0, size); err == nil {
		// Punching holes is allowed by F_SEAL_SHRINK (it keeps the size): the
		// pages read back as zeros, they do not fault. The daemon must survive it.
		t.Log("punched a hole in the registered memfd (allowed: the size stays)")
		for i := range mem {
			mem[i] = byte(i)
		}
	}
	// Growing is allowed, but the region keeps its registered size.
	if err := xunix.Ftruncate(fd, 4*size); err != nil {
		t.Fatalf("growing a registered memfd: %v", err)
	}
	if got, _ := unix.FileSize(fd); got != 4*size {
		t.Fatalf("memfd is %d bytes after growing", got)
	}
	q.expect("last registered bytes", ring.SQE{Opcode: ring.OpSHA256, UserData: 1,
		Src: ring.BufRef{Region: h, Off: size - 64, Len: 64}, Dst: ring.BufRef{Region: h, Len: 32}}, ring.StatusOK)
	if want := sha256.Sum256(mem[size-64 : size]); !bytes.Equal(mem[:32], want[:]) {
		t.Error("digest of the last registered bytes is wrong")
	}
	for i, r := range []ring.BufRef{
		{Region: h, Off: size, Len: 1},
		{Region: h, Off: size - 1, Len: 2},
		{Region: h, Off: 2 * size, Len: 64},
	} {
		q.expect("past the registered size "+strconv.Itoa(i), ring.SQE{Opcode: ring.OpSHA256, UserData: uint64(10 + i),
			Src: r, Dst: ring.BufRef{Region: h, Off: 64, Len: 32}}, ring.StatusBadAddress)
		q.expect("destination past the registered size "+strconv.Itoa(i), ring.SQE{Opcode: ring.OpSHA256, UserData: uint64(20 + i),
			Src: ring.BufRef{Region: h, Len: 8}, Dst: ring.BufRef{Region: h, Off: r.Off, Len: 32}}, ring.StatusBadAddress)
	}
	// A new registration of the grown memfd sees the new size.
	h2, size2, err := b.cn.RegisterMemory(fd, false)
	if err != nil || size2 != 4*size {
		t.Fatalf("registering the grown memfd: %d bytes, %v", size2, err)
	}
	q.expect("grown memfd, registered again", ring.SQE{Opcode: ring.OpSHA256, UserData: 30,
		Src: ring.BufRef{Region: h2, Off: 2 * size, Len: 64}, Dst: ring.BufRef{Region: h, Off: 64, Len: 32}}, ring.StatusOK)
	// Still refused: shrinking below either registration.
	if err := xunix.Ftruncate(fd, size); !errors.Is(err, xunix.EPERM) {
		t.Fatalf("shrinking the grown memfd: %v, want EPERM", err)
	}
	good.finish(t)
	d.stop(t)
}

// ---------------------------------------------------------------------------
// 5. Ring indices set to garbage.

// ringWord returns the 32-bit word at off in a mapped ring.
func ringWord(mem []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }

// Ring header offsets (docs/uapi.md).
const (
	hdrTail  = 64
	hdrHead  = 128
	hdrFlags = 192
)

func TestHostileRingIndices(t *testing.T) {
	d := startDaemon(t, "")
	good := startGoodClient(t, d)
	b := dialHostile(t, d)
	h, mem, _ := b.region(1<<16, true)
	copy(mem, "ring index garbage")
	sha := func(i int) ring.SQE {
		return ring.SQE{Opcode: ring.OpSHA256, UserData: uint64(i),
			Src: ring.BufRef{Region: h, Len: 18}, Dst: ring.BufRef{Region: h, Off: 4096 + uint64(i%64)*32, Len: 32}}
	}
	// Every variant starts from a queue that works.
	newQ := func() *remoteQueue {
		q := b.queue(QueueOptions{Depth: 16})
		q.expect("before the garbage", sha(0), ring.StatusOK)
		return q
	}
	variants := []struct {
		name    string
		corrupt func(q *remoteQueue)
		sqSide  bool // the device detects it as the SQ consumer, else as the CQ producer
	}{
		{"SQ tail far ahead", func(q *remoteQueue) {
			tail := atomic.LoadUint32(ringWord(q.rq.SQ, hdrTail))
			atomic.StoreUint32(ringWord(q.rq.SQ, hdrTail), tail+1<<20+12345)
		}, true},
		{"SQ tail behind the head", func(q *remoteQueue) {
			tail := atomic.LoadUint32(ringWord(q.rq.SQ, hdrTail))
			atomic.StoreUint32(ringWord(q.rq.SQ, hdrTail), tail-5)
		}, true},
		{"SQ tail random", func(q *remoteQueue) {
			atomic.StoreUint32(ringWord(q.rq.SQ, hdrTail), 0xdeadbeef)
		}, true},
		{"CQ head past the tail", func(q *remoteQueue) {
			head := atomic.LoadUint32(ringWord(q.rq.CQ, hdrHead))
			atomic.StoreUint32(ringWord(q.rq.CQ, hdrHead), head+1000)
		}, false},
		{"CQ head backwards", func(q *remoteQueue) {
			head := atomic.LoadUint32(ringWord(q.rq.CQ, hdrHead))
			atomic.StoreUint32(ringWord(q.rq.CQ, hdrHead), head-3)
		}, false},
	}
	for vi, v := range variants {
		q := newQ()
		before, err := b.cn.QueueStats(q.rq.Handle)
		if err != nil {
			t.Fatal(err)
		}
		v.corrupt(q)
		if err := q.rq.Doorbell.Notify(); err != nil {
			t.Fatal(err)
		}
		// The device looks at both indices of every queue whenever it wakes.
		// Wait until it has seen the garbage before submitting: for a garbage
		// SQ tail, the client's own producer keeps its private tail and
		// writes a sane one on commit; for a garbage CQ head, a fetch the
		// device had begun before the garbage landed may still complete.
		noticed := func() bool {
			if v.sqSide {
				return q.sq.Counters().ConsumerCorrupt > 0
			}
			return q.cq.Counters().ProducerCorrupt > 0
		}
		for deadline := time.Now().Add(10 * time.Second); !noticed(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the device never noticed the garbage index", v.name)
			}
			time.Sleep(time.Millisecond)
		}
		for i := 1; i <= 4; i++ {
			q.submit(sha(i))
		}
		if !q.quiet(200 * time.Millisecond) {
			t.Errorf("%s: the queue is still served after its indices were corrupted", v.name)
		}
		after, err := b.cn.QueueStats(q.rq.Handle)
		if err != nil {
			t.Fatal(err)
		}
		if after.Submitted != before.Submitted {
			t.Errorf("%s: the device fetched %d more SQEs from a corrupt ring", v.name, after.Submitted-before.Submitted)
		}
		sqc, cqc := q.sq.Counters(), q.cq.Counters()
		t.Logf("%s: queue stopped; device counted %d corrupt SQ tails, %d corrupt CQ heads", v.name, sqc.ConsumerCorrupt, cqc.ProducerCorrupt)
		if vi%2 == 0 { // half are destroyed explicitly, the others at disconnect
			if err := b.cn.DestroyQueue(q.rq.Handle); err != nil {
				t.Errorf("%s: destroying the broken queue: %v", v.name, err)
			}
		}
	}
	// Garbage in the read-only part of the header and the flags word changes
	// nothing: the geometry was validated and cached at attach.
	q := newQ()
	for _, m := range [][]byte{q.rq.SQ, q.rq.CQ} {
		for i := 0; i < 64; i += 4 {
			atomic.StoreUint32(ringWord(m, i), 0xa5a5a5a5^uint32(i))
		}
		atomic.StoreUint32(ringWord(m, hdrTail+4), 0xffffffff) // reserved words
		atomic.StoreUint32(ringWord(m, hdrHead+4), 0xffffffff)
	}
	atomic.StoreUint32(ringWord(q.rq.SQ, hdrFlags), 0xfffffffe)
	for i := 1; i <= 40; i++ {
		q.expect("after header garbage", sha(i), ring.StatusOK)
	}
	// The broken queues' connection goes away cleanly, and a new one works.
	if err := b.cn.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := dialHostile(t, d)
	h2, mem2, _ := b2.region(4096, true)
	copy(mem2, "abc")
	q2 := b2.queue(QueueOptions{Depth: 4})
	q2.expect("new connection", ring.SQE{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: h2, Len: 3}, Dst: ring.BufRef{Region: h2, Off: 64, Len: 32}}, ring.StatusOK)
	good.finish(t)
	d.stop(t)
}

// ---------------------------------------------------------------------------
// 6. SQEs and source buffers rewritten while the device reads them.

func TestHostileRewriteWhileReading(t *testing.T) {
	d := startDaemon(t, "")
	good := startGoodClient(t, d)
	b := dialHostile(t, d)
	const size = 1 << 14
	h, mem, _ := b.region(size, true)
	ro, _, _ := b.region(4096, false)
	key, err := b.cn.ImportKey(device.KeyAES, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	jobs := 4000
	if testing.Short() {
		jobs = 1000
	}
	for _, copyMode := range []bool{false, true} {
		name := map[bool]string{false: "zero-copy", true: "copy"}[copyMode]
		q := b.queue(QueueOptions{Depth: 64, CopyMode: copyMode})
		sqes := q.rq.SQ[ring.HeaderSize : ring.HeaderSize+64*ring.SQESize]
		stop := make(chan struct{})
		var flips atomic.Int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the vandal: flips random bytes of SQ entries and sources
			defer wg.Done()
			r := rand.New(rand.NewPCG(4, 5))
			for {
				select {
				case <-stop:
					return
				default:
				}
				for range 16 {
					x := byte(1 + r.IntN(255))
					if r.IntN(2) == 0 {
						sqes[r.IntN(len(sqes))] ^= x
					} else {
						mem[r.IntN(size/2)] ^= x
					}
				}
				flips.Add(16)
				runtime.Gosched()
			}
		}()
		ops := []ring.SQE{
			{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: h, Len: 4096}, Dst: ring.BufRef{Region: h, Off: size / 2, Len: 32}},
			{Opcode: ring.OpCRC32C, Src: ring.BufRef{Region: h, Off: 100, Len: 2000}},
			{Opcode: ring.OpAESGCMSeal, Key: key, Src: ring.BufRef{Region: h, Len: 1024}, Aux: ring.BufRef{Region: ro, Len: 12 + 16},
				Dst: ring.BufRef{Region: h, Off: size / 2, Len: 1024 + 16}},
			{Opcode: ring.OpGzipCompress, Param: 1, Src: ring.BufRef{Region: h, Len: 2048}, Dst: ring.BufRef{Region: h, Off: size / 2, Len: 4096}},
			{Opcode: ring.OpSHA512, Src: ring.BufRef{Region: ro, Len: 4096}, Dst: ring.BufRef{Region: h, Off: size/2 + 4096, Len: 64}},
		}
		submitted, completed := 0, 0
		byStatus := map[ring.Status]int{}
		deadline := time.Now().Add(2 * time.Minute)
		for completed < jobs {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d jobs completed in 2 minutes", name, completed, jobs)
			}
			for submitted < jobs {
				n, err := q.sq.Reserve(1)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
				s := ops[submitted%len(ops)]
				s.UserData = uint64(submitted)
				s.Encode(q.sq.Entry(0))
				q.sq.Commit(1)
				submitted++
			}
			q.sq.Wake()
			if _, err := q.cq.Wait(1000, 10*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			for {
				n, err := q.cq.Pop(q.buf)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
				var c ring.CQE
				if err := c.Decode(q.buf); err != nil {
					t.Fatalf("%s: the device wrote a bad CQE: %v", name, err)
				}
				if c.Status > ring.StatusBusy {
					t.Fatalf("%s: CQE with undefined status %d", name, c.Status)
				}
				byStatus[c.Status]++
				completed++
			}
		}
		close(stop)
		wg.Wait()
		if !q.quiet(50 * time.Millisecond) {
			t.Errorf("%s: more completions than jobs", name)
		}
		st, err := b.cn.QueueStats(q.rq.Handle)
		if err != nil {
			t.Fatal(err)
		}
		if st.Submitted != uint64(jobs) || st.Completed != uint64(jobs) {
			t.Errorf("%s: %d jobs, the device counted %d fetched and %d completed", name, jobs, st.Submitted, st.Completed)
		}
		t.Logf("%s: %d jobs under %d byte flips, each completed once: %v", name, jobs, flips.Load(), byStatus)
		// The queue is still sound: clean jobs compute correctly.
		for i := range 50 {
			copy(mem[:64], fmt.Sprintf("clean job %d", i))
			q.expect("clean job after the storm", ring.SQE{Opcode: ring.OpSHA256, UserData: uint64(i),
				Src: ring.BufRef{Region: h, Len: 64}, Dst: ring.BufRef{Region: h, Off: size / 2, Len: 32}}, ring.StatusOK)
			if want := sha256.Sum256(mem[:64]); !bytes.Equal(mem[size/2:size/2+32], want[:]) {
				t.Fatalf("%s: clean job after the storm computed a wrong digest", name)
			}
		}
	}
	good.finish(t)
	d.stop(t)
}

// ---------------------------------------------------------------------------
// Raw control connections.

// rawConn speaks the control protocol byte by byte.
type rawConn struct {
	t   testing.TB
	c   *net.UnixConn
	buf []byte
	oob []byte
}

func dialRaw(t testing.TB, sock string) *rawConn {
	t.Helper()
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, buf: make([]byte, MaxCtlMessage+1), oob: make([]byte, unix.RightsSpace(8))}
}

// ctlMsg builds a message with a valid header.
func ctlMsg(t MsgType, seq uint32, body []byte) []byte {
	m := make([]byte, ctlHeaderSize, ctlHeaderSize+len(body))
	putHeader(m, ctlHeader{Type: uint16(t), Seq: seq, Length: uint16(len(body))})
	return append(m, body...)
}

func (r *rawConn) send(msg []byte, fds ...int) error {
	_, _, err := r.c.WriteMsgUnix(msg, unix.Rights(fds...), nil)
	return err
}

// sendEmpty sends a zero-length datagram, optionally carrying descriptors.
// (Go's WriteMsgUnix adds a byte when there is control data and no data.)
func (r *rawConn) sendEmpty(fds ...int) error {
	rc, err := r.c.SyscallConn()
	if err != nil {
		return err
	}
	oob := unix.Rights(fds...)
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		var msg syscall.Msghdr
		if len(oob) > 0 {
			msg.Control = &oob[0]
			msg.SetControllen(len(oob))
		}
		_, _, e := syscall.Syscall(syscall.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&msg)), 0)
		if e != 0 {
			serr = e
		}
		return true
	})
	return errors.Join(err, serr)
}

// recv reads one reply. It returns io.EOF if the daemon hung up. Descriptors
// in the reply are closed.
func (r *rawConn) recv(timeout time.Duration) (ctlHeader, []byte, int, error) {
	r.c.SetReadDeadline(time.Now().Add(timeout))
	n, oobn, _, _, err := r.c.ReadMsgUnix(r.buf, r.oob)
	fds, _ := unix.ParseRights(r.oob[:oobn])
	closeFDs(fds)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return ctlHeader{}, nil, 0, io.EOF
		}
		return ctlHeader{}, nil, 0, err
	}
	h, body, err := parseHeader(r.buf[:n])
	if err != nil {
		return ctlHeader{}, nil, 0, fmt.Errorf("the daemon sent a malformed reply: %w", err)
	}
	if h.Type&ctlReply == 0 {
		return ctlHeader{}, nil, 0, fmt.Errorf("the daemon sent a request (type %#x)", h.Type)
	}
	return h, body, len(fds), nil
}

// call sends msg and returns the reply's status, failing the test if none comes.
func (r *rawConn) call(msg []byte, fds ...int) (ctlHeader, []byte) {
	r.t.Helper()
	if err := r.send(msg, fds...); err != nil {
		r.t.Fatalf("send: %v", err)
	}
	h, body, _, err := r.recv(10 * time.Second)
	if err != nil {
		r.t.Fatalf("reply: %v", err)
	}
	return h, body
}

func (r *rawConn) hello() {
	r.t.Helper()
	var b builder
	(&helloReq{Min: CtlVersion, Max: CtlVersion}).encode(&b)
	if h, body := r.call(ctlMsg(MsgHello, 1, b)); h.Status != CtlOK {
		r.t.Fatalf("hello: %v %s", h.Status, body)
	}
}

// expectHangUp checks that the daemon has closed the connection.
func (r *rawConn) expectHangUp(what string) {
	r.t.Helper()
	_, _, _, err := r.recv(10 * time.Second)
	if !errors.Is(err, io.EOF) {
		r.t.Fatalf("%s: read %v, want EOF (the daemon hangs up)", what, err)
	}
}

// ---------------------------------------------------------------------------
// 7. Malformed control messages.

// garbage returns a malformed message of kind k, the status its error reply
// must carry, and the sequence number the reply must echo (0 when the header
// itself does not parse).
func garbage(rng *rand.Rand, k int, helloDone bool) (msg []byte, st CtlStatus, seq uint32) {
	seq = rng.Uint32()
	payload := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	switch k % 12 {
	case 0: // random bytes
		m := payload(1 + rng.IntN(200))
		if len(m) >= 4 && binary.LittleEndian.Uint32(m) == CtlMagic {
			m[0] ^= 0xff
		}
		return m, CtlInvalid, 0
	case 1: // a truncated header
		m := ctlMsg(MsgInfo, seq, nil)
		return m[:1+rng.IntN(ctlHeaderSize-1)], CtlInvalid, 0
	case 2: // wrong magic
		m := ctlMsg(MsgInfo, seq, nil)
		m[rng.IntN(4)] ^= byte(1 + rng.IntN(255))
		return m, CtlInvalid, 0
	case 3: // wrong header version
		m := ctlMsg(MsgInfo, seq, nil)
		binary.LittleEndian.PutUint16(m[4:], CtlVersion+1+uint16(rng.IntN(100)))
		return m, CtlInvalid, 0
	case 4: // length field does not match the datagram
		m := ctlMsg(MsgUnregister, seq, make([]byte, 8))
		binary.LittleEndian.PutUint16(m[14:], uint16(9+rng.IntN(1000)))
		return m, CtlInvalid, 0
	case 5: // a reply sent as a request
		return ctlMsg(MsgType(uint16(1+rng.IntN(9))|ctlReply), seq, nil), CtlInvalid, seq
	case 6: // unknown types
		if !helloDone {
			return ctlMsg(MsgType(10+rng.IntN(0x7ff0)), seq, nil), CtlInvalid, seq // anything before hello is invalid
		}
		return ctlMsg(MsgType(10+rng.IntN(0x7ff0)), seq, payload(rng.IntN(64))), CtlUnknown, seq
	case 7: // oversize datagrams
		return payload(MaxCtlMessage + 1 + rng.IntN(64<<10)), CtlInvalid, 0
	case 8: // a known type with a payload of the wrong size
		t := MsgType(1 + rng.IntN(9))
		n := rng.IntN(40)
		switch t {
		case MsgHello, MsgRegister, MsgUnregister, MsgDestroyKey, MsgDestroyQueue, MsgQueueStats, MsgCreateQueue:
			if n == 8 {
				n = 9
			}
		case MsgInfo:
			n++
		case MsgImportKey:
			n = rng.IntN(8) // shorter than its fixed part
		}
		if !helloDone && t == MsgHello && n == 8 {
			n = 7
		}
		return ctlMsg(t, seq, payload(n)), CtlInvalid, seq
	case 9: // reserved fields not zero, unknown flags
		var b builder
		switch rng.IntN(4) {
		case 0:
			b.u16(CtlVersion)
			b.u16(CtlVersion)
			b.u32(1 + rng.Uint32()%1000)
			return ctlMsg(MsgHello, seq, b), CtlInvalid, seq
		case 1:
			b.u32(regWritable << (1 + rng.IntN(31)))
			b.u32(0)
			return ctlMsg(MsgRegister, seq, b), CtlInvalid, seq
		case 2:
			b.u32(16)
			b.u8(0)
			b.u8(4 << rng.IntN(6))
			b.u16(1)
			return ctlMsg(MsgCreateQueue, seq, b), CtlInvalid, seq
		default:
			b.u32(rng.Uint32())
			b.u32(1 + rng.Uint32()%1000)
			return ctlMsg(MsgDestroyKey, seq, b), CtlInvalid, seq
		}
	case 10: // an import whose length field lies
		var b builder
		b.u8(uint8(device.KeyAES))
		b.bytes([]byte{0, 0, 0})
		b.u32(uint32(17 + rng.IntN(1<<20)))
		b.bytes(payload(16))
		return ctlMsg(MsgImportKey, seq, b), CtlInvalid, seq
	default: // requests before hello; after it, bad arguments the driver rejects as invalid
		if !helloDone {
			return ctlMsg(MsgInfo, seq, nil), CtlInvalid, seq
		}
		var b builder
		(&createQueueReq{Depth: uint32(3 + 2*rng.IntN(100))}).encode(&b) // not a power of two
		return ctlMsg(MsgCreateQueue, seq, b), CtlInvalid, seq
	}
}

func TestHostileMalformedControl(t *testing.T) {
	d := startDaemon(t, "")
	good := startGoodClient(t, d)
	base := d.settle(t)
	conns := 40
	if testing.Short() {
		conns = 8
	}
	rng := rand.New(rand.NewPCG(7, 8))
	total := 0
	for ci := range conns {
		r := dialRaw(t, d.sock)
		helloDone := ci%2 == 1
		if helloDone {
			r.hello()
		}
		for i := 0; i < maxGarbage; i++ {
			k := rng.IntN(12)
			msg, want, seq := garbage(rng, k, helloDone)
			if err := r.send(msg); err != nil {
				t.Fatalf("connection %d, message %d (kind %d): send: %v", ci, i, k, err)
			}
			h, body, _, err := r.recv(10 * time.Second)
			if err != nil {
				t.Fatalf("connection %d, message %d (kind %d, %d bytes): %v", ci, i, k, len(msg), err)
			}
			if h.Status != want || h.Seq != seq || len(body) == 0 {
				t.Fatalf("connection %d, message %d (kind %d): reply %+v %q, want status %v, seq %d and a reason",
					ci, i, k, h, body, want, seq)
			}
			total++
		}
		// One more and the daemon hangs up.
		msg, _, _ := garbage(rng, rng.IntN(12), helloDone)
		if err := r.send(msg); err != nil {
			t.Fatal(err)
		}
		r.expectHangUp(fmt.Sprintf("connection %d after %d malformed messages", ci, maxGarbage+1))
		total++
		r.c.Close()
	}
	// Requests the driver refuses but that are well formed do not count as garbage, and neither do refusals
	// the driver gives to well-formed requests.
	r := dialRaw(t, d.sock)
	r.hello()
	for i := range 3 * maxGarbage {
		msg, _, _ := garbage(rng, 0, true)
		if i%2 == 0 {
			var b builder
			(&handleReq{Handle: 12345}).encode(&b)
			msg = ctlMsg(MsgDestroyKey, uint32(i), b) // no such key: a refusal, not garbage
			if h, _ := r.call(msg); h.Status != CtlNoEntry {
				t.Fatalf("destroying an unknown key: %v", h.Status)
			}
			continue
		}
		if i/2 >= maxGarbage {
			break
		}
		if h, _ := r.call(msg); h.Status != CtlInvalid {
			t.Fatalf("garbage %d: %v", i, h.Status)
		}
	}
	if h, _ := r.call(ctlMsg(MsgInfo, 99, nil)); h.Status != CtlOK || h.Seq != 99 {
		t.Fatalf("info after %d malformed messages: %+v", maxGarbage, h)
	}
	r.c.Close()
	// A zero-length datagram reads as end of file: the daemon hangs up.
	r = dialRaw(t, d.sock)
	r.hello()
	if err := r.sendEmpty(); err != nil {
		t.Fatal(err)
	}
	r.expectHangUp("after a zero-length datagram")
	r.c.Close()
	// The daemon keeps serving new clients.
	cn, err := Dial(d.sock)
	if err != nil {
		t.Fatalf("a new client after the garbage: %v", err)
	}
	if _, err := cn.Info(); err != nil {
		t.Fatal(err)
	}
	cn.Close()
	t.Logf("%d malformed messages over %d connections, each answered with an error until the hang-up", total, conns)
	d.backToBaseline(t, base, 2, 10*time.Second)
	good.finish(t)
	d.stop(t)
}

// ---------------------------------------------------------------------------
// 8. Descriptor floods.

func TestHostileFDFlood(t *testing.T) {
	d := startDaemon(t, "")
	good := startGoodClient(t, d)
	base := d.settle(t)
	sealed, _ := sealedMemfd(t, 4096)
	unsealed, _ := newMemfd(t, 4096, 0)
	efd, err := ring.NewEventNotifier()
	if err != nil {
		t.Fatal(err)
	}
	defer efd.Close()
	repeat := func(fd, n int) []int {
		fds := make([]int, n)
		for i := range fds {
			fds[i] = fd
		}
		return fds
	}
	var reg, hello, hnd, cq, cqEvt builder
	(&registerReq{Flags: regWritable}).encode(&reg)
	(&helloReq{Min: CtlVersion, Max: CtlVersion}).encode(&hello)
	(&handleReq{Handle: 77}).encode(&hnd)
	(&createQueueReq{Depth: 8}).encode(&cq)
	(&createQueueReq{Depth: 8, Flags: cqEventFD}).encode(&cqEvt)

	// Refusals of well-formed requests with the wrong descriptors: these are
	// not garbage, so one connection can repeat them forever.
	type flood struct {
		name string
		msg  []byte
		fds  []int
		want CtlStatus
	}
	refusals := []flood{
		{"register with no descriptor", ctlMsg(MsgRegister, 1, reg), nil, CtlBadFD},
		{"register with 2 memfds", ctlMsg(MsgRegister, 2, reg), repeat(sealed, 2), CtlBadFD},
		{"register with 3 memfds", ctlMsg(MsgRegister, 3, reg), repeat(sealed, 3), CtlBadFD},
		{"register an unsealed memfd", ctlMsg(MsgRegister, 4, reg), []int{unsealed}, CtlBadFD},
		{"info with a descriptor", ctlMsg(MsgInfo, 5, nil), []int{sealed}, CtlBadFD},
		{"info with 3 descriptors", ctlMsg(MsgInfo, 6, nil), []int{sealed, efd.FD(), unsealed}, CtlBadFD},
		{"hello with a descriptor", ctlMsg(MsgHello, 7, hello), []int{efd.FD()}, CtlBadFD},
		{"destroy-key with descriptors", ctlMsg(MsgDestroyKey, 8, hnd), repeat(sealed, 3), CtlBadFD},
		{"create-queue with an unexpected descriptor", ctlMsg(MsgCreateQueue, 9, cq), []int{efd.FD()}, CtlBadFD},
		{"create-queue with a memfd for an eventfd", ctlMsg(MsgCreateQueue, 10, cqEvt), []int{sealed}, CtlBadFD},
		{"create-queue with 2 eventfds", ctlMsg(MsgCreateQueue, 11, cqEvt), repeat(efd.FD(), 2), CtlBadFD},
	}
	// Too many descriptors for one message: malformed, so at most maxGarbage
	// per connection.
	garbageFloods := []flood{
		{"register with 4 descriptors", ctlMsg(MsgRegister, 20, reg), repeat(sealed, 4), CtlInvalid},
		{"register with 8 descriptors", ctlMsg(MsgRegister, 21, reg), repeat(sealed, 8), CtlInvalid},
		{"register with 16 descriptors", ctlMsg(MsgRegister, 22, reg), repeat(unsealed, 16), CtlInvalid},
		{"register with 250 descriptors", ctlMsg(MsgRegister, 23, reg), repeat(sealed, 250), CtlInvalid},
		{"hello with 16 descriptors", ctlMsg(MsgHello, 24, hello), repeat(efd.FD(), 16), CtlInvalid},
		{"info with 250 descriptors", ctlMsg(MsgInfo, 25, nil), repeat(efd.FD(), 250), CtlInvalid},
		{"garbage with 8 descriptors", []byte("not a control message at all"), repeat(sealed, 8), CtlInvalid},
		{"garbage with 1 descriptor", []byte("junk"), []int{sealed}, CtlInvalid},
	}
	rounds := 100
	if testing.Short() {
		rounds = 25
	}
	r := dialRaw(t, d.sock)
	r.hello()
	sent, fdsSent := 0, 0
	peak := 0
	for i := range rounds {
		for _, f := range refusals {
			h, body := r.call(f.msg, f.fds...)
			if h.Status != f.want || len(body) == 0 {
				t.Fatalf("%s: %v %q, want %v", f.name, h.Status, body, f.want)
			}
			sent++
			fdsSent += len(f.fds)
		}
		// A good registration and unregistration in between.
		h, body := r.call(ctlMsg(MsgRegister, 30, reg), sealed)
		if h.Status != CtlOK {
			t.Fatalf("register: %v %s", h.Status, body)
		}
		var rr registerReply
		if err := rr.decode(&payload{b: body}); err != nil {
			t.Fatal(err)
		}
		var ub builder
		(&handleReq{Handle: rr.Handle}).encode(&ub)
		if h, body := r.call(ctlMsg(MsgUnregister, 31, ub)); h.Status != CtlOK {
			t.Fatalf("unregister: %v %s", h.Status, body)
		}
		if i%50 == 0 {
			peak = max(peak, d.fds(t))
		}
	}
	// Malformed descriptor floods on many connections, each until the hang-up.
	conns := 20
	if testing.Short() {
		conns = 5
	}
	for ci := range conns {
		g := dialRaw(t, d.sock)
		if ci%2 == 0 {
			g.hello()
		}
		for i := 0; i < maxGarbage; i++ {
			f := garbageFloods[(ci+i)%len(garbageFloods)]
			h, body := g.call(f.msg, f.fds...)
			if h.Status != f.want || len(body) == 0 {
				t.Fatalf("%s: %v %q, want %v", f.name, h.Status, body, f.want)
			}
			sent++
			fdsSent += len(f.fds)
		}
		f := garbageFloods[ci%len(garbageFloods)]
		if err := g.send(f.msg, f.fds...); err != nil {
			t.Fatal(err)
		}
		g.expectHangUp(f.name)
		g.c.Close()
		peak = max(peak, d.fds(t))
	}
	// Zero-length datagrams carrying descriptors read as end of file: the
	// daemon hangs up, and must still close what it received.
	for range conns {
		g := dialRaw(t, d.sock)
		g.hello()
		if err := g.sendEmpty(sealed, efd.FD(), unsealed); err != nil {
			t.Fatal(err)
		}
		g.expectHangUp("after an empty datagram with descriptors")
		g.c.Close()
		sent++
		fdsSent += 3
	}
	r.c.Close()
	after := d.backToBaseline(t, base, 2, 10*time.Second)
	t.Logf("%d messages carrying %d descriptors; daemon descriptors: %d at baseline, %d at the sampled peak, %d after",
		sent, fdsSent, base.fds, peak, after.fds)
	if peak > base.fds+16 {
		t.Errorf("the daemon's descriptors grew to %d during the flood (baseline %d)", peak, base.fds)
	}
	good.finish(t)
	d.stop(t)
}

// ---------------------------------------------------------------------------
// 9. Disconnecting with jobs in flight.

func TestHostileDisconnectInFlight(t *testing.T) {
	// Teardown is asynchronous: a fast connect/close loop can be a few contexts
	// ahead of it, so lift the per-uid limit on contexts.
	d := startDaemon(t, `{"default": {"ops": ["*"], "max_contexts": 100000}}`)
	good := startGoodClient(t, d)
	// Warm up: the daemon's first connection set up state that stays.
	func() {
		b := dialHostile(t, d)
		b.region(4096, true)
		b.queue(QueueOptions{Depth: 8})
		b.cn.Close()
	}()
	base := d.settle(t)
	t.Logf("baseline: %d descriptors, %d memfd mappings", base.fds, base.memfdMaps)

	// One client closes its connection with 1,000 slow jobs in flight.
	start := time.Now()
	{
		cn, err := Dial(d.sock)
		if err != nil {
			t.Fatal(err)
		}
		const src = 1 << 20
		fd, _ := sealedMemfd(t, src+inFlightJobs*64)
		h, _, err := cn.RegisterMemory(fd, true)
		if err != nil {
			t.Fatal(err)
		}
		rq, err := cn.CreateQueue(QueueOptions{Depth: 1024}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cl := newRingClient(t, rq.SQ, rq.CQ, rq.Doorbell, nil)
		for i := range inFlightJobs {
			cl.submit(ring.SQE{Opcode: ring.OpSHA512, UserData: uint64(i),
				Src: ring.BufRef{Region: h, Len: src}, Dst: ring.BufRef{Region: h, Off: src + uint64(i)*64, Len: 64}})
		}
		for {
			st, err := cn.QueueStats(rq.Handle)
			if err != nil {
				t.Fatal(err)
			}
			if st.Submitted > 0 {
				t.Logf("closing with %d jobs fetched, %d completed, %d not fetched", st.Submitted, st.Completed, inFlightJobs-st.Submitted)
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		cn.Close()
		rq.Close()
	}
	d.backToBaseline(t, base, 2, 20*time.Second)
	t.Logf("teardown with 1,000 jobs in flight took %v", time.Since(start).Round(time.Millisecond))

	// Connect, register, create a queue, submit, close: over and over.
	cycles := 1000
	if testing.Short() {
		cycles = 100
	}
	fd, mem := sealedMemfd(t, 1<<16)
	copy(mem, "cycle")
	start = time.Now()
	for i := range cycles {
		cn, err := Dial(d.sock)
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		h, _, err := cn.RegisterMemory(fd, true)
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if i%3 == 0 {
			if _, err := cn.ImportKey(device.KeyAES, make([]byte, 16)); err != nil {
				t.Fatal(err)
			}
		}
		rq, err := cn.CreateQueue(QueueOptions{Depth: 32}, nil)
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		sq, err := ring.NewProducer(rq.SQ)
		if err != nil {
			t.Fatal(err)
		}
		sq.SetNotifier(rq.Doorbell)
		n, _ := sq.Reserve(16)
		for k := range n {
			s := ring.SQE{Opcode: ring.OpSHA256, UserData: uint64(k),
				Src: ring.BufRef{Region: h, Len: 4096}, Dst: ring.BufRef{Region: h, Off: 8192 + uint64(k)*32, Len: 32}}
			s.Encode(sq.Entry(k))
		}
		sq.Commit(n)
		sq.Wake()
		if i%2 == 0 {
			cn.Close() // with the rings still mapped here
			rq.Close()
		} else {
			rq.Close()
			cn.Close()
		}
	}
	t.Logf("%d connect/register/queue/submit/close cycles in %v", cycles, time.Since(start).Round(time.Millisecond))
	d.backToBaseline(t, base, 2, 20*time.Second)

	// Client processes SIGKILLed with 1,000 jobs in flight.
	kills := 20
	if testing.Short() {
		kills = 4
	}
	start = time.Now()
	for i := range kills {
		c := startChild(t, roleInFlight, d.sock)
		if line := c.waitLine(t, 60*time.Second); line != "ready" {
			t.Fatalf("child %d said %q", i, line)
		}
		c.cmd.Process.Signal(syscall.SIGKILL)
		if err := c.wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("child %d: %v, want killed\n%s", i, err, c.stderr.String())
		}
		d.alive(t)
	}
	after := d.backToBaseline(t, base, 2, 30*time.Second)
	t.Logf("%d clients killed with jobs in flight in %v; daemon back to %d descriptors and %d memfd mappings",
		kills, time.Since(start).Round(time.Millisecond), after.fds, after.memfdMaps)
	good.finish(t)
	d.stop(t)
}

// ---------------------------------------------------------------------------
// 10. Every quota exceeded.

func TestHostileQuotas(t *testing.T) {
	uid := syscall.Getuid()
	policy := fmt.Sprintf(`{
  "default": {"ops": ["*"]},
  "users": {"%d": {
    "ops": ["nop", "sha256", "sha512", "aes-gcm-seal"],
    "max_contexts": 3, "max_queues": 2, "max_regions": 3,
    "max_registered_bytes": 1048576, "max_keys": 2, "max_in_flight": 4, "weight": 2
  }}
}`, uid)
	d := startDaemon(t, policy)
	good := startGoodClient(t, d) // context 1 of 3

	a := dialHostile(t, d) // context 2
	info, err := a.cn.Info()
	if err != nil {
		t.Fatal(err)
	}
	r := info.Rule
	if r.MaxContexts != 3 || r.MaxQueues != 2 || r.MaxRegions != 3 || r.MaxRegisteredBytes != 1<<20 ||
		r.MaxKeys != 2 || r.MaxInFlight != 4 || r.Weight != 2 {
		t.Fatalf("info reports the rule %+v", r)
	}
	if want := []ring.Opcode{ring.OpNop, ring.OpAESGCMSeal, ring.OpSHA256, ring.OpSHA512}; fmt.Sprint(info.Ops) != fmt.Sprint(want) {
		t.Errorf("info reports the allowed operations %v, want %v", info.Ops, want)
	}
	wantQuotaCtl := func(what string, err error, limit string) {
		t.Helper()
		wantCtl(t, what, err, CtlQuota)
		if !errors.Is(err, ErrQuota) {
			t.Errorf("%s: %v does not match ErrQuota", what, err)
		}
		if err != nil && !strings.Contains(err.Error(), limit) {
			t.Errorf("%s: %q does not name the limit %s", what, err, limit)
		}
	}

	// Contexts: the third is the last.
	b := dialHostile(t, d) // context 3
	for i := range 20 {
		cn, err := Dial(d.sock)
		if err == nil {
			cn.Close()
			t.Fatalf("connection %d beyond max_contexts was accepted", i)
		}
		wantQuotaCtl("connection beyond max_contexts", err, "max_contexts")
		if i == 0 {
			t.Log(err)
		}
	}

	// Registered bytes, then regions.
	h1, _, _ := a.region(512<<10, true)
	fd, _ := sealedMemfd(t, 600<<10)
	_, _, err = a.cn.RegisterMemory(fd, true)
	wantQuotaCtl("registering past max_registered_bytes", err, "max_registered_bytes")
	a.region(4096, true)
	h3, _, _ := a.region(4096, true)
	small, _ := sealedMemfd(t, 4096)
	_, _, err = a.cn.RegisterMemory(small, true)
	wantQuotaCtl("a fourth region", err, "max_regions")
	if err := a.cn.UnregisterMemory(h3); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.cn.RegisterMemory(small, true); err != nil {
		t.Fatalf("registering after unregistering: %v", err)
	}

	// Keys.
	k1, err := a.cn.ImportKey(device.KeyAES, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.cn.ImportKey(device.KeyHMAC, []byte("k2")); err != nil {
		t.Fatal(err)
	}
	_, err = a.cn.ImportKey(device.KeyAES, make([]byte, 32))
	wantQuotaCtl("a third key", err, "max_keys")
	if err := a.cn.DestroyKey(k1); err != nil {
		t.Fatal(err)
	}
	if k1, err = a.cn.ImportKey(device.KeyAES, make([]byte, 16)); err != nil {
		t.Fatalf("importing after destroying: %v", err)
	}

	// Queues and weight.
	_, err = a.cn.CreateQueue(QueueOptions{Depth: 8, Weight: 3}, nil)
	wantQuotaCtl("weight 3", err, "weight")
	q1 := a.queue(QueueOptions{Depth: 64, Weight: 2})
	q2 := a.queue(QueueOptions{Depth: 8})
	_, err = a.cn.CreateQueue(QueueOptions{Depth: 8}, nil)
	wantQuotaCtl("a third queue", err, "max_queues")
	if err := a.cn.DestroyQueue(q2.rq.Handle); err != nil {
		t.Fatal(err)
	}
	q2 = a.queue(QueueOptions{Depth: 8})

	// Operations outside the allowlist.
	q2.expect("sha384, not allowed", ring.SQE{Opcode: ring.OpSHA384, Src: ring.BufRef{Region: h1, Len: 64}, Dst: ring.BufRef{Region: h1, Off: 4096, Len: 48}}, ring.StatusNotPermitted)
	q2.expect("gzip, not allowed", ring.SQE{Opcode: ring.OpGzipCompress, Src: ring.BufRef{Region: h1, Len: 64}, Dst: ring.BufRef{Region: h1, Off: 4096, Len: 1024}}, ring.StatusNotPermitted)
	q2.expect("aes-gcm-seal, allowed", ring.SQE{Opcode: ring.OpAESGCMSeal, Key: k1, Src: ring.BufRef{Region: h1, Len: 64},
		Aux: ring.BufRef{Region: h1, Off: 8192, Len: 12}, Dst: ring.BufRef{Region: h1, Off: 4096, Len: 80}}, ring.StatusOK)

	// In flight: a queue of depth 64 with max_in_flight 4 never holds more
	// than 4 accepted jobs. SHA-512 over 480 KiB takes about a millisecond.
	const jobs = 64
	const srcLen = 480 << 10
	n, err := q1.sq.Reserve(jobs)
	if err != nil || n != jobs {
		t.Fatalf("reserve: %d %v", n, err)
	}
	for i := range jobs {
		s := ring.SQE{Opcode: ring.OpSHA512, UserData: uint64(i), Src: ring.BufRef{Region: h1, Len: srcLen},
			Dst: ring.BufRef{Region: h1, Off: srcLen + uint64(i)*64, Len: 64}}
		s.Encode(q1.sq.Entry(i))
	}
	q1.sq.Commit(jobs)
	q1.sq.Wake()
	maxStats, maxRing, samples, reaped := uint64(0), 0, 0, 0
	for deadline := time.Now().Add(60 * time.Second); reaped < jobs; samples++ {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs completed", reaped, jobs)
		}
		st, err := a.cn.QueueStats(q1.rq.Handle)
		if err != nil {
			t.Fatal(err)
		}
		maxStats = max(maxStats, st.Submitted-st.Completed)
		// From the rings: what the device fetched (its SQ head), read before
		// what it completed (the CQ tail), bounds what it held in between.
		free, err := q1.sq.Free()
		if err != nil {
			t.Fatal(err)
		}
		fetched := jobs - (64 - free)
		avail, err := q1.cq.Available()
		if err != nil {
			t.Fatal(err)
		}
		maxRing = max(maxRing, fetched-(reaped+avail))
		for range avail {
			if c := q1.reap(); c.Status != ring.StatusOK {
				t.Fatalf("in-flight job %d: %v", c.UserData, c.Status)
			}
			reaped++
		}
	}
	t.Logf("max_in_flight 4 on a queue of depth 64: at most %d accepted and not completed per QueueStats, %d per the rings, over %d samples",
		maxStats, maxRing, samples)
	if maxStats > 4 || maxRing > 4 {
		t.Errorf("more than max_in_flight jobs accepted at once: %d (stats), %d (rings)", maxStats, maxRing)
	}

	// A connection's slot comes back when it closes.
	b.cn.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		cn, err := Dial(d.sock)
		if err == nil {
			cn.Close()
			break
		}
		wantQuotaCtl("connection while a slot is being freed", err, "max_contexts")
		if time.Now().After(deadline) {
			t.Fatal("a closed connection never gave its context back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	good.finish(t)
	d.stop(t)
}

// TestHostileWriteSealedStatus registers a write-sealed memfd read-write: the
// driver cannot map it writable, which is the client's mistake (an unsuitable
// descriptor), not a failure of the daemon, and must be reported as such.
func TestHostileWriteSealedStatus(t *testing.T) {
	path, _ := startServer(t, nil)
	cn := dial(t, path)
	fd, _ := newMemfd(t, 4096, unix.SealShrink|xunix.F_SEAL_WRITE)
	_, _, err := cn.RegisterMemory(fd, true)
	if st, ok := ctlStatus(err); !ok || (st != CtlBadFD && st != CtlInvalid) {
		t.Errorf("registering a write-sealed memfd writable: %v; want status %q or %q, not an internal error", err, CtlBadFD, CtlInvalid)
	}
	if _, _, err := cn.RegisterMemory(fd, false); err != nil {
		t.Errorf("registering it read-only: %v", err)
	}
}

// ---------------------------------------------------------------------------
// 11. A completion eventfd made to block, and a doorbell made to block.

// TestHostileBlockingEventFDs: a client shares its eventfds' file descriptions
// with the daemon, so it can clear O_NONBLOCK on them. It makes the eventfd it
// gave for completions blocking and fills its counter, so that the daemon's
// next signal would block until someone reads; and it makes its doorbell
// blocking and reads it in a loop. The other client's jobs keep completing,
// destroying the queue and closing the connection return, and the daemon gives
// back every descriptor.
func TestHostileBlockingEventFDs(t *testing.T) {
	d := startDaemon(t, `{"default": {"ops": ["*"]}}`)
	good := startGoodClient(t, d)
	base := d.settle(t)
	progress := func(what string) {
		t.Helper()
		n0 := good.jobs.Load()
		for deadline := time.Now().Add(30 * time.Second); good.jobs.Load() < n0+4*goodSlots; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the well-behaved client completed %d jobs in 30 s", what, good.jobs.Load()-n0)
			}
			time.Sleep(time.Millisecond)
		}
	}
	full := make([]byte, 8)
	binary.NativeEndian.PutUint64(full, 1<<64-2) // one below the maximum: the next signal blocks
	wedge := func(cn *Conn) (*RemoteQueue, *ring.EventNotifier) {
		t.Helper()
		efd, err := ring.NewEventNotifier()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { efd.Close() })
		rq, err := cn.CreateQueue(QueueOptions{Depth: 8}, efd)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rq.Close() })
		if err := syscall.SetNonblock(efd.FD(), false); err != nil {
			t.Fatal(err)
		}
		if _, err := syscall.Write(efd.FD(), full); err != nil {
			t.Fatal(err)
		}
		cl := newRingClient(t, rq.SQ, rq.CQ, rq.Doorbell, nil)
		for i := range 4 {
			// Ask to be woken, so the device signals the eventfd on completion.
			if _, err := cl.cq.Arm(); err != nil {
				t.Fatal(err)
			}
			cl.submit(ring.SQE{Opcode: ring.OpNop, UserData: uint64(i)})
			time.Sleep(time.Millisecond)
		}
		return rq, efd
	}

	cn, err := Dial(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	rq, _ := wedge(cn)
	progress("completion eventfd blocking and full")
	if err := cn.DestroyQueue(rq.Handle); err != nil {
		t.Fatalf("destroying the queue with the wedged eventfd: %v", err)
	}
	wedge(cn)
	cn.Close() // teardown must get past the wedged eventfd too
	d.backToBaseline(t, base, 2, 20*time.Second)
	progress("after the wedged client left")

	// The doorbell: blocking, and read by the client as fast as it can.
	b := dialHostile(t, d)
	q := b.queue(QueueOptions{Depth: 8})
	hostilefd.StealWakeups(t, q.rq.Doorbell.FD())
	for i := range 50 {
		// The thief may read away its own wake-ups; its jobs still complete,
		// when the other client or the watchdog wakes the device.
		q.expect("nop on a drained doorbell", ring.SQE{Opcode: ring.OpNop, UserData: uint64(i)}, ring.StatusOK)
		time.Sleep(200 * time.Microsecond)
	}
	progress("doorbell blocking and drained")
	good.finish(t)
	d.stop(t)
}
