package ring

// Cross-process tests, and the one helper-process mechanism that they and the
// cross-process benchmarks share. The test binary re-executes itself with
// -test.run=^TestHelperProcess$ and ACCELQ_RING_HELPER naming the child's role;
// the shared memfd (or a socket, for the baselines) arrives as fd 3 through
// ExtraFiles. The region holds two rings: "up" (the child produces, the parent
// consumes) and "down" (the parent produces, the child consumes). The child
// learns the geometry from the ring header, as a real peer would.
//
// The tests: 10 million 64-byte entries from child to parent with a running
// checksum compared at the end; and thousands of bursts with the parent
// sleeping between them, where a lost wake-up shows as a sleep that ran its
// whole timeout with entries waiting. The race detector cannot see across
// processes, so these and the fuzzers are what guard the shared-memory path.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/accelq/accelq/internal/unix"
)

const (
	helperRoleEnv = "ACCELQ_RING_HELPER"
	helperNEnv    = "ACCELQ_RING_N"
	helperArgEnv  = "ACCELQ_RING_ARG"
	helperSeedEnv = "ACCELQ_RING_SEED"
	// helperProfileEnv, set by whoever runs the tests, makes every child write
	// a CPU profile to the path it names.
	helperProfileEnv = "ACCELQ_RING_CHILD_CPUPROFILE"
	helperFD         = 3 // the first of cmd.ExtraFiles
)

// helperRoles maps a role name to the child's half of a test or benchmark.
var helperRoles = map[string]func(h helperArgs) error{
	"stream":       childStream,
	"bursts":       childBursts,
	"bench-stream": childBenchStream,
	"bench-echo":   childBenchEcho,
	"sock-stream":  childSockStream,
	"sock-echo":    childSockEcho,
}

type helperArgs struct {
	n    int    // entries or round trips
	arg  int    // batch size, or a role-specific switch
	seed uint64 // for roles that draw random numbers
}

// TestHelperProcess is not a test: it is the child's entry point. Run directly,
// without the role variable, it does nothing.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv(helperRoleEnv)
	if role == "" {
		return
	}
	f, ok := helperRoles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown helper role %q\n", role)
		os.Exit(2)
	}
	atoi := func(k string) int { v, _ := strconv.Atoi(os.Getenv(k)); return v }
	args := helperArgs{n: atoi(helperNEnv), arg: atoi(helperArgEnv), seed: uint64(atoi(helperSeedEnv))}
	// -test.cpuprofile profiles only the parent; this profiles the child, to
	// see which side of a cross-process benchmark is the limit.
	if path := os.Getenv(helperProfileEnv); path != "" {
		pf, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(pf)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "child profile: %v\n", err)
			os.Exit(2)
		}
	}
	err := f(args)
	pprof.StopCPUProfile() // a no-op unless profiling
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", role, err)
		os.Exit(1)
	}
	// Exit here so the testing package prints nothing to the parent.
	os.Exit(0)
}

// helper is a running child process.
type helper struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer // read only after done is closed
	done   chan struct{}
	err    error // the exit status, valid after done
}

// startHelper starts the test binary as a child with the given role, passing
// files as fds 3, 4, ... The child is killed when the test ends, and if this
// process dies first.
func startHelper(tb testing.TB, role string, args helperArgs, files ...*os.File) *helper {
	tb.Helper()
	h := &helper{done: make(chan struct{})}
	h.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	h.cmd.Env = append(os.Environ(),
		helperRoleEnv+"="+role,
		helperNEnv+"="+strconv.Itoa(args.n),
		helperArgEnv+"="+strconv.Itoa(args.arg),
		helperSeedEnv+"="+strconv.FormatUint(args.seed, 10),
	)
	h.cmd.ExtraFiles = files
	h.cmd.Stderr = &h.stderr
	// Pdeathsig follows the thread that forked, so a parent that locks its
	// thread must start the child before locking (or never exit that thread).
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := h.cmd.Start(); err != nil {
		tb.Fatalf("start helper %s: %v", role, err)
	}
	go func() { h.err = h.cmd.Wait(); close(h.done) }()
	tb.Cleanup(func() { h.kill(); <-h.done })
	return h
}

func (h *helper) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

func (h *helper) kill() {
	if !h.exited() {
		h.cmd.Process.Kill()
	}
}

// finish waits for the child to exit and fails tb unless it exited cleanly.
func (h *helper) finish(tb testing.TB) {
	tb.Helper()
	select {
	case <-h.done:
	case <-time.After(hangTimeout):
		h.kill()
		<-h.done
		tb.Fatalf("helper did not exit; killed. stderr:\n%s", h.stderr.String())
	}
	if h.err != nil {
		tb.Fatalf("helper: %v; stderr:\n%s", h.err, h.stderr.String())
	}
}

// failure describes why the child stopped early, for a parent that gave up.
func (h *helper) failure() string {
	if !h.exited() {
		return "helper still running"
	}
	return fmt.Sprintf("helper exited: %v; stderr:\n%s", h.err, h.stderr.String())
}

// region is the shared mapping: the up ring, then the down ring on the next page.
type region struct {
	mem      []byte
	up, down []byte
}

func splitRegion(mem []byte, g Geometry) (up, down []byte) {
	off := (g.Size() + 4095) &^ 4095
	return mem[:g.Size()], mem[off : off+g.Size()]
}

func regionSize(g Geometry) int { return 2 * ((g.Size() + 4095) &^ 4095) }

// newRegion creates the memfd the way the driver does: sealed against
// shrinking, mapped shared, both rings initialised. The returned file is for
// ExtraFiles.
func newRegion(tb testing.TB, g Geometry) (*region, *os.File) {
	tb.Helper()
	size := regionSize(g)
	fd, err := unix.Memfd("accelq-ring-test", size)
	if err != nil {
		tb.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	tb.Cleanup(func() { f.Close() })
	if err := unix.AddSeals(fd, unix.SealShrink); err != nil {
		tb.Fatal(err)
	}
	mem, err := unix.MapShared(fd, size)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Unmap(mem) })
	r := &region{mem: mem}
	r.up, r.down = splitRegion(mem, g)
	if err := Init(r.up, g); err != nil {
		tb.Fatal(err)
	}
	if err := Init(r.down, g); err != nil {
		tb.Fatal(err)
	}
	return r, f
}

// attachRegion is the child's side: check the seal before trusting the size
// (an unsealed memfd could be truncated under us), map it, read the geometry.
func attachRegion() (*region, error) {
	seals, err := unix.Seals(helperFD)
	if err != nil {
		return nil, err
	}
	if seals&unix.SealShrink == 0 {
		return nil, errors.New("memfd is not sealed against shrinking")
	}
	size, err := unix.FileSize(helperFD)
	if err != nil {
		return nil, err
	}
	mem, err := unix.MapShared(helperFD, int(size))
	if err != nil {
		return nil, err
	}
	g, err := ReadGeometry(mem)
	if err != nil {
		return nil, err
	}
	if regionSize(g) > len(mem) {
		return nil, fmt.Errorf("memfd of %d bytes is too small for two rings of %+v", len(mem), g)
	}
	r := &region{mem: mem}
	r.up, r.down = splitRegion(mem, g)
	return r, nil
}

// childEnds attaches the child's producer (up) and consumer (down).
func (r *region) childEnds() (*Producer, *Consumer, error) {
	p, err := NewProducer(r.up)
	if err != nil {
		return nil, nil, err
	}
	c, err := NewConsumer(r.down)
	return p, c, err
}

// parentEnds attaches the parent's consumer (up) and producer (down).
func (r *region) parentEnds(tb testing.TB) (*Consumer, *Producer) {
	tb.Helper()
	c, err := NewConsumer(r.up)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := NewProducer(r.down)
	if err != nil {
		tb.Fatal(err)
	}
	return c, p
}

// The poll loops' back-off. Two measured facts on the 2-vCPU VM shape it:
//   - Gosched on a locked thread hands the P to another thread and back through
//     futexes, tens of microseconds: yielding every 64 empty polls made the
//     polled round trip's mean 50 us, every 1024 about 1-2 us, every 16384
//     about 0.25 us. So Gosched rarely (goYieldEvery).
//   - When other load pushes parent and child onto one core, a side that only
//     spins holds the core for its whole time slice while the peer it waits
//     for cannot run: the polled round trip went to 370 us and batch-32
//     throughput to 8-11 M entries/s. sched_yield(2) hands the core over at the
//     cost of one system call when nobody else wants it: every 128 empty polls
//     brought throughput back to 94-98 M/s but added syscalls inside a round
//     trip's wait (medians 0.9-5.7 us); every 1024 (a few microseconds of
//     spinning) stays out of a sub-microsecond round trip's way while bounding
//     what a shared core wastes. So sched_yield every osYieldEvery.
const (
	osYieldEvery = 1 << 10
	goYieldEvery = 1 << 14
)

// spinner is the poll loop policy shared by children and parents: spin, yield
// now and then, and give up after hangTimeout so a dead peer cannot leave an
// orphan spinning forever.
type spinner struct {
	wd    *watchdog
	empty uint
}

func newSpinner() *spinner { return &spinner{wd: newWatchdog(hangTimeout)} }

func (s *spinner) idle(what string) error {
	s.empty++
	if s.empty%osYieldEvery == 0 {
		syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
	}
	if s.empty%goYieldEvery == 0 {
		runtime.Gosched()
	}
	if s.wd.expired() {
		return fmt.Errorf("gave up after %v waiting for %s", hangTimeout, what)
	}
	return nil
}

// pushSpin publishes one entry, spinning while the ring is full.
func pushSpin(p *Producer, e []byte, s *spinner) error {
	for {
		ok, err := p.Push(e)
		if err != nil {
			return err
		}
		if ok {
			_, err := p.Wake()
			return err
		}
		if err := s.idle("space in the ring"); err != nil {
			return err
		}
	}
}

// popSpin takes exactly one entry into dst, spinning while the ring is empty.
func popSpin(c *Consumer, dst []byte, s *spinner) error {
	for {
		n, err := c.Pop(dst[:c.esz])
		if err != nil || n == 1 {
			return err
		}
		if err := s.idle("an entry"); err != nil {
			return err
		}
	}
}

// Stream entries: word 0 is the sequence number, words 1-7 a payload derived
// from it, so a stale, torn or misplaced entry changes the checksum.
const (
	trailerMagic = 0x7472_6169_6c65_7221
	verdictMagic = 0x7665_7264_6963_7421
)

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

const fnvOffset, fnvPrime = 0xcbf29ce484222325, 0x100000001b3

// fnvWords folds an entry's eight words into a running FNV-1a over words.
func fnvWords(h uint64, e []byte) uint64 {
	for i := 0; i < 64; i += 8 {
		h = (h ^ binary.LittleEndian.Uint64(e[i:])) * fnvPrime
	}
	return h
}

func writeStreamEntry(e []byte, seq uint64) {
	binary.LittleEndian.PutUint64(e, seq)
	for k := uint64(1); k < 8; k++ {
		binary.LittleEndian.PutUint64(e[k*8:], splitmix(seq<<3|k))
	}
}

func putWords(e []byte, ws ...uint64) {
	for i, w := range ws {
		binary.LittleEndian.PutUint64(e[i*8:], w)
	}
}

func getWord64(e []byte, i int) uint64 { return binary.LittleEndian.Uint64(e[i*8:]) }

// childStream produces n entries in batches of up to h.arg, then a trailer
// with its checksum, then checks the parent's verdict.
func childStream(h helperArgs) error {
	r, err := attachRegion()
	if err != nil {
		return err
	}
	p, c, err := r.childEnds()
	if err != nil {
		return err
	}
	s := newSpinner()
	sum := uint64(fnvOffset)
	rng := rand.New(rand.NewPCG(h.seed, 1))
	for seq := 0; seq < h.n; {
		k, err := p.Reserve(min(1+rng.IntN(h.arg), h.n-seq))
		if err != nil {
			return err
		}
		if k == 0 {
			if err := s.idle("space in the ring"); err != nil {
				return err
			}
			continue
		}
		for i := range k {
			e := p.Entry(i)
			writeStreamEntry(e, uint64(seq+i))
			sum = fnvWords(sum, e)
		}
		p.Commit(k)
		if _, err := p.Wake(); err != nil {
			return err
		}
		seq += k
	}
	e := make([]byte, 64)
	putWords(e, trailerMagic, uint64(h.n), sum)
	if err := pushSpin(p, e, s); err != nil {
		return err
	}
	if n, err := c.Wait(1000, hangTimeout); n == 0 || err != nil {
		return fmt.Errorf("no verdict from the parent: %d, %v", n, err)
	}
	if _, err := c.Pop(e); err != nil {
		return err
	}
	if getWord64(e, 0) != verdictMagic || getWord64(e, 1) != uint64(h.n) || getWord64(e, 2) != sum {
		return fmt.Errorf("parent's verdict %x, want count %d checksum %#x", e[:24], h.n, sum)
	}
	return nil
}

func TestCrossProcessStream(t *testing.T) {
	n := 10_000_000
	if testing.Short() {
		n = 500_000
	}
	g := Geometry{Entries: 4096, EntrySize: 64}
	r, f := newRegion(t, g)
	c, p := r.parentEnds(t)
	h := startHelper(t, "stream", helperArgs{n: n, arg: 64, seed: 7}, f)

	rng := rand.New(rand.NewPCG(8, 1))
	dst := make([]byte, 256*64)
	sum := uint64(fnvOffset)
	deadline := time.Now().Add(hangTimeout)
	for got := 0; got < n; {
		ready, err := c.Wait(2000, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if ready == 0 {
			if h.exited() || time.Now().After(deadline) {
				t.Fatalf("stream stalled at entry %d of %d: %s", got, n, h.failure())
			}
			continue
		}
		// Never peek past the data into the trailer; vary the batch.
		want := min(1+rng.IntN(256), n-got)
		k, err := c.Peek(dst[:want*64])
		if err != nil {
			t.Fatal(err)
		}
		for i := range k {
			e := dst[i*64 : i*64+64]
			if seq := getWord64(e, 0); seq != uint64(got) {
				t.Fatalf("entry %d arrived with sequence number %d", got, seq)
			}
			sum = fnvWords(sum, e)
			got++
		}
		c.Advance(k)
	}
	e := make([]byte, 64)
	s := newSpinner()
	if err := popSpin(c, e, s); err != nil {
		t.Fatalf("trailer: %v; %s", err, h.failure())
	}
	if getWord64(e, 0) != trailerMagic || getWord64(e, 1) != uint64(n) {
		t.Fatalf("trailer %x, want magic and count %d", e[:16], n)
	}
	if child := getWord64(e, 2); child != sum {
		t.Fatalf("checksum over %d entries: child wrote %#x, parent read %#x", n, child, sum)
	}
	putWords(e, verdictMagic, uint64(n), sum)
	if err := pushSpin(p, e, s); err != nil {
		t.Fatal(err)
	}
	h.finish(t)
	cs := c.Counters()
	if cs.ConsumerCorrupt != 0 || cs.ProducerCorrupt != 0 {
		t.Fatalf("corruption counted in a healthy stream: %+v", cs)
	}
	t.Logf("%d entries: %d parent sleeps, %d child wake-ups, %d refused reservations", n, cs.Sleeps, cs.Wakeups, cs.Refused)
}

// childBursts produces h.n bursts of random size. Half start only once the
// parent has armed NEED_WAKEUP; the rest after a random pause that races its
// arming. Each burst waits for the parent to drain it, so no later commit can
// rescue a lost wake-up.
func childBursts(h helperArgs) error {
	r, err := attachRegion()
	if err != nil {
		return err
	}
	p, c, err := r.childEnds()
	if err != nil {
		return err
	}
	entries := p.Geometry().Entries
	rng := rand.New(rand.NewPCG(h.seed, 2))
	s := newSpinner()
	var seq, sum, forced uint64
	for range h.n {
		switch rng.IntN(8) {
		case 0, 1, 2, 3:
			forced++
			for !p.NeedsWakeup() {
				if err := s.idle("the parent to arm NEED_WAKEUP"); err != nil {
					return err
				}
			}
		case 4:
			time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
		case 5, 6:
			for range rng.IntN(5000) {
				runtime.KeepAlive(seq)
			}
		}
		for left := 1 + rng.IntN(2*entries); left > 0; {
			k, err := p.Reserve(min(left, 1+rng.IntN(16)))
			if err != nil {
				return err
			}
			if k == 0 {
				if err := s.idle("space in the ring"); err != nil {
					return err
				}
				continue
			}
			for i := range k {
				writeStreamEntry(p.Entry(i), seq)
				sum += seq
				seq++
			}
			p.Commit(k)
			left -= k
			if _, err := p.Wake(); err != nil {
				return err
			}
		}
		for {
			f, err := p.Free()
			if err != nil {
				return err
			}
			if f == entries {
				break
			}
			if err := s.idle("the parent to drain a burst"); err != nil {
				return err
			}
		}
	}
	e := make([]byte, 64)
	putWords(e, trailerMagic, seq, sum, forced)
	if err := pushSpin(p, e, s); err != nil {
		return err
	}
	// Stay mapped until the parent has read the trailer.
	if n, err := c.Wait(1000, hangTimeout); n == 0 || err != nil {
		return fmt.Errorf("no verdict from the parent: %d, %v", n, err)
	}
	return nil
}

func TestCrossProcessSleepWake(t *testing.T) {
	bursts := 5000
	if testing.Short() {
		bursts = 500
	}
	g := Geometry{Entries: 64, EntrySize: 64}
	r, f := newRegion(t, g)
	c, p := r.parentEnds(t)
	h := startHelper(t, "bursts", helperArgs{n: bursts, seed: 11}, f)

	var stuck atomic.Bool
	watchdog := time.AfterFunc(hangTimeout, func() { stuck.Store(true); h.kill() })
	defer watchdog.Stop()
	dst := make([]byte, 16*64)
	e := make([]byte, 64)
	var got, sum uint64
	spins := []int{0, 1, 100}
	for i := 0; ; i++ {
		began, before := time.Now(), c.Counters()
		ready, err := c.Wait(spins[i%3], lostWakeTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(began) >= lostWakeTimeout {
			if n, _ := c.Available(); n > 0 {
				t.Fatalf("lost wake-up: slept the whole %v with %d entries ready after %d entries (returned %d; flags %#x; before %+v, after %+v)",
					lostWakeTimeout, n, got, ready, atomic.LoadUint32(c.flagsp), before, c.Counters())
			}
		}
		if ready == 0 {
			if h.exited() || stuck.Load() {
				t.Fatalf("no entries after %d: %s", got, h.failure())
			}
			continue
		}
		k, err := c.Peek(dst)
		if err != nil {
			t.Fatal(err)
		}
		done := false
		for j := range k {
			e := dst[j*64 : j*64+64]
			if getWord64(e, 0) == trailerMagic {
				if k != j+1 {
					t.Fatalf("%d entries after the trailer", k-j-1)
				}
				done = true
				break
			}
			if seq := getWord64(e, 0); seq != got {
				t.Fatalf("entry %d arrived with sequence number %d", got, seq)
			}
			sum += got
			got++
		}
		if done {
			copy(e, dst[(k-1)*64:k*64])
			c.Advance(k)
			break
		}
		c.Advance(k)
	}
	if getWord64(e, 1) != got || getWord64(e, 2) != sum {
		t.Fatalf("trailer says %d entries summing to %d; parent got %d summing to %d", getWord64(e, 1), getWord64(e, 2), got, sum)
	}
	forced := getWord64(e, 3)
	if err := pushSpin(p, e, newSpinner()); err != nil {
		t.Fatal(err)
	}
	h.finish(t)
	cs := c.Counters()
	t.Logf("%d bursts (%d waited for a sleeper), %d entries: %d parent sleeps, %d child wake-ups", bursts, forced, got, cs.Sleeps, cs.Wakeups)
	if cs.Sleeps < forced {
		t.Errorf("%d sleeps counted, but %d bursts waited for a sleeping parent", cs.Sleeps, forced)
	}
	if forced > 0 && cs.Wakeups == 0 {
		t.Errorf("no wake-ups for %d bursts that waited for a sleeper", forced)
	}
}
