package driver

// Teardown and churn across processes: a real acceld on the ideal profile,
// which computes every job on the host, so a backlog of heavy jobs costs the
// daemon real CPU time. A client that dies, destroys a queue or disconnects
// must free the device promptly: its jobs stop costing anything, other
// clients' work is not held up behind them, and the daemon goes back to idle
// with nothing of the client left open.
//
// The bounds are loose on purpose (hundreds of milliseconds where the device
// needs microseconds), so that a loaded two-core machine, or -race, cannot
// make them flake; what they catch is a device that keeps computing a dead
// client's backlog for seconds.

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

// ---------------------------------------------------------------------------
// A backlog of heavy jobs.

// heavySrc is the source of every backlog job: SHA-512 of 1 MiB, about a
// millisecond of host CPU each on the ideal profile.
const heavySrc = 1 << 20

// The heavy child's backlog: three queues of 1,024, about three seconds of
// computation for two cores, kept full until the child is killed.
const (
	heavyQueues = 3
	heavyDepth  = 1024
)

// backlog keeps the queues of one connection full of heavy jobs. It is driven
// by one goroutine at a time.
type backlog struct {
	region uint32
	qs     []*backlogQueue
}

type backlogQueue struct {
	rq        *RemoteQueue
	sq        *ring.Producer
	cq        *ring.Consumer
	dst       uint64 // this queue's digests start here
	depth     int
	submitted uint64 // entries committed to the SQ
	completed uint64 // CQEs reaped
	cqes      []byte
}

// newBacklog registers one region on cn and creates queues of depth entries,
// empty; top fills them.
func newBacklog(cn *Conn, queues, depth int) (*backlog, error) {
	size := heavySrc + queues*depth*64
	fd, err := unix.Memfd("backlog", size)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd) // the driver keeps its own
	if err := unix.AddSeals(fd, unix.SealShrink); err != nil {
		return nil, err
	}
	h, _, err := cn.RegisterMemory(fd, true)
	if err != nil {
		return nil, err
	}
	b := &backlog{region: h}
	for i := range queues {
		rq, err := cn.CreateQueue(QueueOptions{Depth: depth}, nil)
		if err != nil {
			b.close()
			return nil, err
		}
		q := &backlogQueue{rq: rq, dst: uint64(heavySrc + i*depth*64), depth: depth, cqes: make([]byte, depth*ring.CQESize)}
		b.qs = append(b.qs, q)
		if q.sq, err = ring.NewProducer(rq.SQ); err != nil {
			b.close()
			return nil, err
		}
		q.sq.SetNotifier(rq.Doorbell)
		if q.cq, err = ring.NewConsumer(rq.CQ); err != nil {
			b.close()
			return nil, err
		}
	}
	return b, nil
}

// top reaps every queue's completions and fills its SQ to the brim again.
func (b *backlog) top() error {
	for _, q := range b.qs {
		n, err := q.cq.Pop(q.cqes)
		if err != nil {
			return err
		}
		for k := range n {
			var c ring.CQE
			if err := c.Decode(q.cqes[k*ring.CQESize:]); err != nil {
				return err
			}
			if c.Status != ring.StatusOK {
				return fmt.Errorf("backlog job %d completed with %v", c.UserData, c.Status)
			}
		}
		q.completed += uint64(n)
		free, err := q.sq.Free()
		if err != nil {
			return err
		}
		// Never more outstanding than the CQ holds: every job owns a CQ slot.
		free = min(free, q.depth-int(q.submitted-q.completed))
		if free <= 0 {
			continue
		}
		got, err := q.sq.Reserve(free)
		if err != nil {
			return err
		}
		for i := range got {
			seq := q.submitted + uint64(i)
			s := ring.SQE{Opcode: ring.OpSHA512, UserData: seq,
				Src: ring.BufRef{Region: b.region, Len: heavySrc},
				Dst: ring.BufRef{Region: b.region, Off: q.dst + (seq%uint64(q.depth))*64, Len: 64}}
			if err := s.Encode(q.sq.Entry(i)); err != nil {
				return err
			}
		}
		q.sq.Commit(got)
		q.submitted += uint64(got)
		if _, err := q.sq.Wake(); err != nil {
			return err
		}
	}
	return nil
}

// counts returns how many jobs the device has accepted from the SQs (their
// heads moved past them), and how many are outstanding, submitted and not yet
// reaped: in the SQs, on the device or in the CQs.
func (b *backlog) counts() (accepted, outstanding int, err error) {
	for _, q := range b.qs {
		free, err := q.sq.Free()
		if err != nil {
			return 0, 0, err
		}
		inSQ := q.depth - free
		accepted += int(q.submitted) - inSQ
		outstanding += int(q.submitted - q.completed)
	}
	return accepted, outstanding, nil
}

// fill tops the queues up until the device has accepted some of the jobs.
func (b *backlog) fill(timeout time.Duration) (accepted, outstanding int, err error) {
	for deadline := time.Now().Add(timeout); ; {
		if err := b.top(); err != nil {
			return 0, 0, err
		}
		accepted, outstanding, err := b.counts()
		if err != nil || accepted > 0 {
			return accepted, outstanding, err
		}
		if time.Now().After(deadline) {
			return 0, outstanding, fmt.Errorf("the device accepted none of %d jobs within %v", outstanding, timeout)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// close unmaps the rings here; the queues live on in the daemon until they
// are destroyed or the connection closes.
func (b *backlog) close() {
	for _, q := range b.qs {
		q.rq.Close()
	}
	b.qs = nil
}

// keepBacklog keeps b topped up on a goroutine until the returned stop is
// called, publishing its outstanding count; it fails the test if topping up
// does.
func keepBacklog(t testing.TB, b *backlog) (outstanding *atomic.Int64, stop func()) {
	t.Helper()
	outstanding = new(atomic.Int64)
	quit, done := make(chan struct{}), make(chan struct{})
	var err error
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			default:
			}
			if err = b.top(); err != nil {
				return
			}
			_, out, cerr := b.counts()
			if err = cerr; err != nil {
				return
			}
			outstanding.Store(int64(out))
			time.Sleep(500 * time.Microsecond)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(quit)
			<-done
			if err != nil {
				t.Errorf("keeping the backlog full: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return outstanding, stop
}

// childHeavy is the heavy child role: connect, fill heavyQueues queues of
// heavyDepth with SHA-512 jobs over 1 MiB, print "ready" and the jobs accepted
// and outstanding once the device has accepted some, then keep the queues
// full until killed.
func childHeavy(sock string) error {
	cn, err := Dial(sock)
	if err != nil {
		return err
	}
	b, err := newBacklog(cn, heavyQueues, heavyDepth)
	if err != nil {
		return err
	}
	accepted, outstanding, err := b.fill(30 * time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("ready %d %d\n", accepted, outstanding)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); { // the parent kills us long before
		if err := b.top(); err != nil {
			return err
		}
		time.Sleep(500 * time.Microsecond)
	}
	return errors.New("not killed")
}

// startHeavy starts a heavy child and returns once its backlog is on the
// device, with the jobs it reported accepted and outstanding.
func startHeavy(t testing.TB, d *daemon) (c *child, accepted, outstanding int) {
	t.Helper()
	c = startChild(t, roleHeavy, d.sock)
	line := c.waitLine(t, 60*time.Second)
	if _, err := fmt.Sscanf(line, "ready %d %d", &accepted, &outstanding); err != nil || accepted <= 0 {
		t.Fatalf("heavy child said %q", line)
	}
	return c, accepted, outstanding
}

// kill SIGKILLs a child and reaps it.
func (c *child) kill(t testing.TB) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGKILL)
	if err := c.wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child: %v, want killed\n%s", err, c.stderr.String())
	}
}

// ---------------------------------------------------------------------------
// RSA-2048 signing, the probe of a free device.

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaDER  []byte
	rsaErr  error
)

func testRSAKey(t testing.TB) (*rsa.PrivateKey, []byte) {
	t.Helper()
	rsaOnce.Do(func() {
		if rsaKey, rsaErr = rsa.GenerateKey(rand.Reader, 2048); rsaErr == nil {
			rsaDER, rsaErr = x509.MarshalPKCS8PrivateKey(rsaKey)
		}
	})
	if rsaErr != nil {
		t.Fatal(rsaErr)
	}
	return rsaKey, rsaDER
}

// signer is a connection set up to sign with RSA-2048 on its own queue.
type signer struct {
	cn     *Conn
	rq     *RemoteQueue
	sq     *ring.Producer
	cq     *ring.Consumer
	pub    *rsa.PublicKey
	key    uint32
	region uint32
	mem    []byte
	n      uint64
	once   sync.Once
}

const (
	signDigest = 0    // the digest's offset in the signer's region
	signSig    = 4096 // the signature's
)

func newSigner(t testing.TB, d *daemon) *signer {
	t.Helper()
	priv, der := testRSAKey(t)
	cn, err := Dial(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.Close() }) // a second Close does nothing
	fd, mem := sealedMemfd(t, 8192)
	h, _, err := cn.RegisterMemory(fd, true)
	if err != nil {
		t.Fatal(err)
	}
	k, err := cn.ImportKey(device.KeyPrivate, der)
	if err != nil {
		t.Fatal(err)
	}
	rq, err := cn.CreateQueue(QueueOptions{Depth: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := newRingClient(t, rq.SQ, rq.CQ, rq.Doorbell, nil)
	s := &signer{cn: cn, rq: rq, sq: cl.sq, cq: cl.cq, pub: &priv.PublicKey, key: k, region: h, mem: mem}
	t.Cleanup(s.close)
	return s
}

// close closes the signer's connection and unmaps its rings, once.
func (s *signer) close() {
	s.once.Do(func() {
		s.cn.Close()
		s.rq.Close()
	})
}

// sign signs one digest and returns the time from submission to completion,
// checking the signature. It may run on a goroutine of its own.
func (s *signer) sign() (time.Duration, error) {
	s.n++
	digest := sha256.Sum256([]byte("probe " + strconv.FormatUint(s.n, 10)))
	copy(s.mem[signDigest:], digest[:])
	clear(s.mem[signSig : signSig+256])
	sqe := ring.SQE{Opcode: ring.OpRSASignPKCS1v15, Param: uint16(crypto.SHA256), Key: s.key, UserData: s.n,
		Src: ring.BufRef{Region: s.region, Off: signDigest, Len: 32},
		Dst: ring.BufRef{Region: s.region, Off: signSig, Len: 256}}
	if n, err := s.sq.Reserve(1); n != 1 || err != nil {
		return 0, fmt.Errorf("RSA-2048 sign: reserved %d SQ entries: %v", n, err)
	}
	if err := sqe.Encode(s.sq.Entry(0)); err != nil {
		return 0, err
	}
	start := time.Now()
	s.sq.Commit(1)
	if _, err := s.sq.Wake(); err != nil {
		return 0, err
	}
	buf := make([]byte, ring.CQESize)
	for deadline := start.Add(30 * time.Second); ; {
		if _, err := s.cq.Wait(1000, 10*time.Millisecond); err != nil {
			return 0, err
		}
		n, err := s.cq.Pop(buf)
		if err != nil {
			return 0, err
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			return 0, errors.New("RSA-2048 sign: no completion within 30 s")
		}
	}
	took := time.Since(start)
	var c ring.CQE
	if err := c.Decode(buf); err != nil {
		return 0, err
	}
	if c.Status != ring.StatusOK || c.UserData != s.n || c.Result != 256 {
		return took, fmt.Errorf("RSA-2048 sign: CQE %+v (%v)", c, c.Status)
	}
	if err := rsa.VerifyPKCS1v15(s.pub, crypto.SHA256, digest[:], s.mem[signSig:signSig+256]); err != nil {
		return took, fmt.Errorf("RSA-2048 sign: the signature does not verify: %v", err)
	}
	return took, nil
}

// ---------------------------------------------------------------------------
// The daemon's CPU time and threads.

// cpuTime returns the CPU time the daemon has used, user and system, from
// /proc/<pid>/stat (in clock ticks of 10 ms: CLK_TCK is 100 on Linux).
func (d *daemon) cpuTime(t testing.TB) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(d.pid) + "/stat")
	if err != nil {
		d.alive(t)
		t.Fatal(err)
	}
	// The command name, field 2, is in parentheses and may hold anything.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		t.Fatalf("/proc/%d/stat: %q", d.pid, s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		t.Fatalf("/proc/%d/stat: %q", d.pid, s)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", d.pid, s)
	}
	const clkTck = 100
	return time.Duration(utime+stime) * time.Second / clkTck
}

// threads returns the daemon's thread count, from /proc/<pid>/status.
func (d *daemon) threads(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(d.pid) + "/status")
	if err != nil {
		d.alive(t)
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("/proc/%d/status: %q", d.pid, line)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no Threads line", d.pid)
	return 0
}

const (
	idleGrace  = 200 * time.Millisecond // after the teardown, before the window
	idleWindow = 500 * time.Millisecond
	idleMax    = idleWindow / 5 // 20% of one core
)

// expectIdle waits idleGrace, then fails the test if the daemon uses more than
// idleMax of CPU time over idleWindow: nothing of a client that went away may
// still be computing. It returns the CPU time used in the window.
func (d *daemon) expectIdle(t testing.TB, what string) time.Duration {
	t.Helper()
	time.Sleep(idleGrace)
	c0 := d.cpuTime(t)
	start := time.Now()
	time.Sleep(idleWindow)
	used := d.cpuTime(t) - c0
	window := time.Since(start)
	if used > idleMax {
		t.Errorf("%s: acceld used %v of CPU in %v (%.0f%% of a core), want at most %v: still computing for a client that is gone",
			what, used, window.Round(time.Millisecond), 100*used.Seconds()/window.Seconds(), idleMax)
	}
	return used
}

// ---------------------------------------------------------------------------
// 1. A client killed with a heavy backlog.

func TestKilledClientFreesTheDevice(t *testing.T) {
	d := startDaemon(t, "")
	warm := newSigner(t, d) // the daemon's first connection and sign set up what stays
	if _, err := warm.sign(); err != nil {
		t.Fatal(err)
	}
	warm.close()
	base := d.settle(t)
	t.Logf("baseline: %d descriptors, %d memfd mappings", base.fds, base.memfdMaps)
	probe := newSigner(t, d)
	took, err := probe.sign()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a sign on an idle device: %v", took.Round(time.Microsecond))

	c, accepted, outstanding := startHeavy(t, d)
	busy := d.cpuTime(t)
	time.Sleep(100 * time.Millisecond) // the device deep in the backlog
	busy = d.cpuTime(t) - busy
	c.kill(t)
	killed := time.Now()
	// One sign right after the kill, while the test watches the daemon's CPU.
	type result struct {
		took time.Duration
		err  error
	}
	signed := make(chan result, 1)
	go func() {
		took, err := probe.sign()
		signed <- result{took, err}
	}()
	used := d.expectIdle(t, "after the kill")
	t.Logf("heavy child killed with %d jobs submitted, %d accepted when it said ready; acceld's CPU in the 100 ms before the kill: %v, from %v to %v after it: %v",
		outstanding, accepted, busy, idleGrace, idleGrace+idleWindow, used)
	r := <-signed
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("a sign submitted right after the kill: %v", r.took.Round(time.Microsecond))
	if r.took > time.Second {
		t.Errorf("RSA-2048 sign right after the kill took %v, want under 1 s: the device is still busy with the dead client's jobs", r.took)
	}
	probe.close()
	after := d.backToBaseline(t, base, 2, 5*time.Second)
	t.Logf("back to %d descriptors and %d memfd mappings %v after the kill", after.fds, after.memfdMaps, time.Since(killed).Round(time.Millisecond))
}

// ---------------------------------------------------------------------------
// 2. Destroying a queue while another client keeps the device busy.

func TestDestroyQueueBehindBacklog(t *testing.T) {
	d := startDaemon(t, "")
	busy, err := Dial(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	bl, err := newBacklog(busy, heavyQueues, heavyDepth)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bl.close)
	if _, _, err := bl.fill(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	outstanding, stop := keepBacklog(t, bl)
	time.Sleep(100 * time.Millisecond) // the device deep in the backlog

	cn, err := Dial(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.Close() })
	const depth = 8
	fd, _ := sealedMemfd(t, heavySrc+depth*64)
	h, _, err := cn.RegisterMemory(fd, true)
	if err != nil {
		t.Fatal(err)
	}
	// Destroy a queue with one job, twice, then one with a full ring.
	for round, jobs := range []int{1, 1, depth} {
		rq, err := cn.CreateQueue(QueueOptions{Depth: depth}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cl := newRingClient(t, rq.SQ, rq.CQ, rq.Doorbell, nil)
		first := uint64(1000 * (round + 1))
		for k := range jobs {
			cl.submit(ring.SQE{Opcode: ring.OpSHA512, UserData: first + uint64(k),
				Src: ring.BufRef{Region: h, Len: heavySrc}, Dst: ring.BufRef{Region: h, Off: heavySrc + uint64(k)*64, Len: 64}})
		}
		// Destroy it once the device has taken a job.
		var st device.Counters
		for deadline := time.Now().Add(10 * time.Second); ; {
			if st, err = cn.QueueStats(rq.Handle); err != nil {
				t.Fatal(err)
			}
			if st.Submitted > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the device took none of %d jobs within 10 s: %+v", round, jobs, st)
			}
			time.Sleep(100 * time.Microsecond)
		}
		behind := outstanding.Load()
		start := time.Now()
		if err := cn.DestroyQueue(rq.Handle); err != nil {
			t.Fatalf("round %d: destroy-queue: %v", round, err)
		}
		took := time.Since(start)

		// Every job the device took completed exactly once, by the time
		// destroy returned; the others stay in the SQ, with no CQE.
		free, err := cl.sq.Free()
		if err != nil {
			t.Fatalf("round %d: SQ: %v", round, err)
		}
		taken := jobs - (depth - free)
		var cqes []ring.CQE
		buf := make([]byte, depth*ring.CQESize)
		collect := func() {
			n, err := cl.cq.Pop(buf)
			if err != nil {
				t.Fatalf("round %d: CQ: %v", round, err)
			}
			for k := range n {
				var c ring.CQE
				if err := c.Decode(buf[k*ring.CQESize:]); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				cqes = append(cqes, c)
			}
		}
		collect()
		time.Sleep(50 * time.Millisecond) // nothing more may come
		collect()
		rq.Close()
		var statuses []string
		seen := map[uint64]int{}
		for _, c := range cqes {
			statuses = append(statuses, c.Status.String())
			seen[c.UserData]++
		}
		t.Logf("round %d: destroy-queue took %v with %d backlog jobs outstanding on the other connection; %d of %d jobs taken (%d completed before the destroy), CQEs %v",
			round, took.Round(time.Microsecond), behind, taken, jobs, st.Completed, statuses)
		if behind < heavyDepth {
			t.Errorf("round %d: only %d backlog jobs outstanding: the test did not destroy behind a backlog", round, behind)
		}
		if took > time.Second {
			t.Errorf("round %d: destroy-queue with %d jobs took %v behind another client's backlog, want under 1 s", round, jobs, took)
		}
		if taken < 1 || len(cqes) != taken {
			t.Errorf("round %d: %d CQEs for the %d jobs the device took: %+v", round, len(cqes), taken, cqes)
		}
		for _, c := range cqes {
			k := c.UserData - first
			switch {
			case c.UserData < first || k >= uint64(taken) || seen[c.UserData] != 1:
				t.Errorf("round %d: CQE %+v: unexpected user data, or seen %d times", round, c, seen[c.UserData])
			case c.Status == ring.StatusOK && c.Result == 64, c.Status == ring.StatusFlushed && c.Result == 0:
			default:
				t.Errorf("round %d: CQE %+v (%v), want OK with 64 bytes or FLUSHED", round, c, c.Status)
			}
		}
		if t.Failed() {
			break
		}
	}
	stop()
	d.alive(t)
}

// ---------------------------------------------------------------------------
// 3. Churn: clients that come, fill a queue and go, over and over.

func TestChurnBackToBaseline(t *testing.T) {
	// Teardown is asynchronous: connections can be a few contexts ahead of it.
	d := startDaemon(t, `{"default": {"ops": ["*"], "max_contexts": 100000}}`)
	const (
		cycles    = 100
		killEvery = 25 // every 25th cycle is a heavy child, killed
		depth     = 64 // jobs per in-process cycle, all queued at the close
	)
	cycle := func(i int) (accepted, outstanding int) {
		cn, err := Dial(d.sock)
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		b, err := newBacklog(cn, 1, depth)
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if accepted, outstanding, err = b.fill(10 * time.Second); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if i%2 == 0 {
			cn.Close() // with the rings still mapped here
			b.close()
		} else {
			b.close()
			cn.Close()
		}
		return accepted, outstanding
	}
	cycle(-1) // warm up: the daemon's first connection sets up state that stays
	base := d.settle(t)
	d.expectIdle(t, "after the warm-up")
	baseThreads := d.threads(t)
	t.Logf("baseline: %d descriptors, %d memfd mappings, %d threads", base.fds, base.memfdMaps, baseThreads)

	start := time.Now()
	kills, acceptedAtClose := 0, 0
	for i := range cycles {
		if i%killEvery == killEvery-1 {
			c, _, _ := startHeavy(t, d)
			c.kill(t)
			kills++
			continue
		}
		a, _ := cycle(i)
		acceptedAtClose += a
	}
	d.alive(t)
	t.Logf("%d cycles (%d heavy children killed, the last cycle one of them) in %v; on average %d of %d jobs accepted at each close",
		cycles, kills, time.Since(start).Round(time.Millisecond), acceptedAtClose/(cycles-kills), depth)
	end := time.Now()
	used := d.expectIdle(t, "after the churn")
	t.Logf("acceld CPU from %v to %v after the last cycle: %v", idleGrace, idleGrace+idleWindow, used)
	after := d.backToBaseline(t, base, 2, 5*time.Second)
	t.Logf("back to %d descriptors and %d memfd mappings %v after the last cycle", after.fds, after.memfdMaps, time.Since(end).Round(time.Millisecond))
	threads := d.threads(t)
	t.Logf("acceld has %d threads (baseline %d)", threads, baseThreads)
	if threads > baseThreads+4 {
		t.Errorf("acceld has %d threads after the churn, baseline %d: want at most 4 more", threads, baseThreads)
	}
}
