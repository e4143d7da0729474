package driver

// End-to-end tests in embedded mode: a client fills the SQ the driver allocated
// and reaps the CQ, the device translates through the driver's address space.
// Each runs on every device in testDevices: the fake device here, and the
// software device of package sim (sim_test.go).

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

type testDevice struct {
	name string
	new  func(testing.TB) device.Device
}

var testDevices = []testDevice{{name: "fake", new: func(t testing.TB) device.Device {
	d := newFakeDevice()
	t.Cleanup(func() { d.Close() })
	return d
}}}

func forEachDevice(t *testing.T, f func(t *testing.T, dev device.Device)) {
	forEachTestDevice(t, func(t *testing.T, td testDevice) { f(t, td.new(t)) })
}

func forEachTestDevice(t *testing.T, f func(t *testing.T, td testDevice)) {
	for _, td := range testDevices {
		t.Run(td.name, func(t *testing.T) { f(t, td) })
	}
}

// client is an embedded client of one queue.
type client struct {
	t   testing.TB
	q   *Queue
	sq  *ring.Producer
	cq  *ring.Consumer
	buf []byte
}

func newClient(t testing.TB, dev device.Device, c *Context, opts QueueOptions) *client {
	t.Helper()
	q, err := c.CreateQueue(opts)
	if err != nil {
		t.Fatal(err)
	}
	cl := newRingClient(t, q.SQ(), q.CQ(), dupBell(t, q), opts.CQNotifier)
	cl.q = q
	return cl
}

// dupBell returns a descriptor of the client's own for q's doorbell, closed
// with the test.
func dupBell(t testing.TB, q *Queue) *ring.EventNotifier {
	t.Helper()
	bell, err := q.Doorbell()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bell.Close() })
	return bell
}

// newRingClient attaches a client to a queue pair's rings, wherever they are mapped.
func newRingClient(t testing.TB, sqMem, cqMem []byte, doorbell, cqNotifier ring.Notifier) *client {
	t.Helper()
	sq, err := ring.NewProducer(sqMem)
	if err != nil {
		t.Fatal(err)
	}
	sq.SetNotifier(doorbell)
	cq, err := ring.NewConsumer(cqMem)
	if err != nil {
		t.Fatal(err)
	}
	if cqNotifier != nil {
		cq.SetNotifier(cqNotifier)
	}
	return &client{t: t, sq: sq, cq: cq, buf: make([]byte, ring.CQESize)}
}

func (cl *client) submit(s ring.SQE) {
	cl.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := cl.sq.Reserve(1)
		if err != nil {
			cl.t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			cl.t.Fatal("SQ stayed full")
		}
		time.Sleep(10 * time.Microsecond)
	}
	if err := s.Encode(cl.sq.Entry(0)); err != nil {
		cl.t.Fatal(err)
	}
	cl.sq.Commit(1)
	if _, err := cl.sq.Wake(); err != nil {
		cl.t.Fatal(err)
	}
}

func (cl *client) reap() ring.CQE {
	cl.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := cl.cq.Wait(1000, 50*time.Millisecond); err != nil {
			cl.t.Fatal(err)
		}
		n, err := cl.cq.Pop(cl.buf)
		if err != nil {
			cl.t.Fatal(err)
		}
		if n == 1 {
			var c ring.CQE
			if err := c.Decode(cl.buf); err != nil {
				cl.t.Fatal(err)
			}
			return c
		}
		if time.Now().After(deadline) {
			cl.t.Fatal("no completion: hang detector fired")
		}
	}
}

func (cl *client) run(s ring.SQE) ring.CQE {
	cl.t.Helper()
	cl.submit(s)
	return cl.reap()
}

func TestEndToEndSHA256(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev device.Device) {
		d := New(dev, nil)
		c := openCtx(t, d, 1000)
		fd, mem := sealedMemfd(t, 8192)
		h := register(t, c, fd, true)
		msg := []byte("the quick brown fox jumps over the lazy dog")
		copy(mem, msg)
		cl := newClient(t, dev, c, QueueOptions{Depth: 16})
		cqe := cl.run(ring.SQE{
			Opcode:   ring.OpSHA256,
			UserData: 42,
			Src:      ring.BufRef{Region: h, Off: 0, Len: uint32(len(msg))},
			Dst:      ring.BufRef{Region: h, Off: 4096, Len: 32},
		})
		if cqe.Status != ring.StatusOK || cqe.UserData != 42 || cqe.Result != 32 {
			t.Fatalf("CQE %+v", cqe)
		}
		if want := sha256.Sum256(msg); string(mem[4096:4096+32]) != string(want[:]) {
			t.Fatalf("digest %x, want %x", mem[4096:4096+32], want)
		}
		// The device let go of every pin: only the registration's reference is left.
		if n := c.space.lookupRegion(h).refs.Load(); n != 1 {
			t.Fatalf("region has %d references after the job, want 1", n)
		}
		// A read-only region is never written.
		roFD, roMem := sealedMemfd(t, 4096)
		ro := register(t, c, roFD, false)
		cqe = cl.run(ring.SQE{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: h, Len: 8}, Dst: ring.BufRef{Region: ro, Len: 32}})
		if cqe.Status != ring.StatusBadAddress {
			t.Fatalf("digest into a read-only region completed with %v", cqe.Status)
		}
		for _, v := range roMem[:32] {
			if v != 0 {
				t.Fatal("the device wrote a read-only region")
			}
		}
		// Policy is enforced on the data path too.
		p, _ := ParsePolicy([]byte(`{"default": {"ops": ["nop"]}}`))
		c2 := openCtx(t, New(dev, p), 1001)
		fd2, _ := sealedMemfd(t, 4096)
		h2 := register(t, c2, fd2, true)
		cl2 := newClient(t, dev, c2, QueueOptions{Depth: 4})
		cqe = cl2.run(ring.SQE{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: h2, Len: 8}, Dst: ring.BufRef{Region: h2, Off: 64, Len: 32}})
		if cqe.Status != ring.StatusNotPermitted {
			t.Fatalf("sha256 refused by policy completed with %v", cqe.Status)
		}
	})
}

// TestForeignRegionOnQueue submits, on context B's queue, descriptors naming
// context A's regions: each completes with bad address, A's memory is untouched
// and A's regions are not left pinned.
func TestForeignRegionOnQueue(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev device.Device) {
		d := New(dev, nil)
		a, b := openCtx(t, d, 1000), openCtx(t, d, 2000)
		fdA, memA := sealedMemfd(t, 4096)
		hA := register(t, a, fdA, true)
		for i := range memA {
			memA[i] = 0xaa
		}
		fdB, memB := sealedMemfd(t, 4096)
		hB := register(t, b, fdB, true)
		if hA == hB {
			t.Skip("handle collision between contexts (probability 2^-32)")
		}
		copy(memB, "b's data")
		cl := newClient(t, dev, b, QueueOptions{Depth: 8})
		for i, s := range []ring.SQE{
			{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: hA, Len: 64}, Dst: ring.BufRef{Region: hB, Off: 1024, Len: 32}},
			{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: hB, Len: 8}, Dst: ring.BufRef{Region: hA, Off: 1024, Len: 32}},
			{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: hA, Len: 8}, Dst: ring.BufRef{Region: hA, Off: 1024, Len: 32}},
		} {
			s.UserData = uint64(i)
			if cqe := cl.run(s); cqe.Status != ring.StatusBadAddress || cqe.UserData != uint64(i) || cqe.Result != 0 {
				t.Fatalf("descriptor %d naming context A's region: CQE %+v, want bad address", i, cqe)
			}
		}
		for i, v := range memA {
			if v != 0xaa {
				t.Fatalf("context A's byte %d changed to %#x", i, v)
			}
		}
		for i, v := range memB[1024 : 1024+32] {
			if v != 0 {
				t.Fatalf("context B's destination byte %d written (%#x) by a refused job", i, v)
			}
		}
		if n := a.space.lookupRegion(hA).refs.Load(); n != 1 {
			t.Fatalf("context A's region has %d references, want 1", n)
		}
		// A's key, named on B's queue, is not permitted.
		kA, err := a.ImportKey(device.KeyHMAC, []byte("a's key"))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, st := b.space.Key(kA); st != ring.StatusNotPermitted {
			t.Fatalf("B resolved A's key: %v", st)
		}
	})
}

// TestCloseWithJobsInFlight closes a context whose queue has jobs submitted and
// not reaped (on the fake device, one held mid-computation with its regions
// pinned): Close returns, and every region, key, ring and descriptor is released.
func TestCloseWithJobsInFlight(t *testing.T) {
	forEachTestDevice(t, func(t *testing.T, td testDevice) {
		dev := td.new(t)
		fds0 := countFDs(t)
		_, memfd0 := countMaps(t)
		d := New(dev, nil)
		c, err := d.Open(Cred{UID: 1000})
		if err != nil {
			t.Fatal(err)
		}
		fd, _ := sealedMemfd(t, 1<<20)
		h := register(t, c, fd, true)
		k, err := c.ImportKey(device.KeyHMAC, []byte("in-flight key"))
		if err != nil {
			t.Fatal(err)
		}
		key, pin, _ := c.space.Key(k)
		secret := key.Secret()
		pin.Unpin()
		r := c.space.lookupRegion(h)
		fake, _ := dev.(*fakeDevice)
		if fake != nil {
			fake.holdJobs()
			defer fake.release()
		}
		cl := newClient(t, dev, c, QueueOptions{Depth: 64})
		for i := range 64 {
			cl.submit(ring.SQE{Opcode: ring.OpSHA256, UserData: uint64(i),
				Src: ring.BufRef{Region: h, Len: 1 << 19}, Dst: ring.BufRef{Region: h, Off: 1<<19 + uint64(i)*32, Len: 32}})
		}
		if fake != nil {
			for fake.heldJobs() == 0 {
				time.Sleep(time.Millisecond)
			}
			if r.refs.Load() < 2 {
				t.Fatal("held job does not pin its region")
			}
		} else {
			for cl.q.Stats().Submitted == 0 { // at least one job accepted
				time.Sleep(100 * time.Microsecond)
			}
		}
		before := cl.q.Stats()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		after := cl.q.Stats()
		t.Logf("at Close: %d submitted, %d completed; after: %d submitted, %d completed, %d flushed",
			before.Submitted, before.Completed, after.Submitted, after.Completed, after.Flushed)
		if cl.q.SQFD() != -1 || cl.q.CQFD() != -1 {
			t.Fatal("ring descriptors still open after Close")
		}
		if !r.released.Load() {
			t.Fatalf("region still held after Close (%d references)", r.refs.Load())
		}
		for _, v := range secret {
			if v != 0 {
				t.Fatal("key not zeroed after Close")
			}
		}
		if n := d.Contexts(); n != 0 {
			t.Fatalf("%d contexts open after Close", n)
		}
		if n := countFDs(t); n != fds0+2 { // the test's memfd and its copy of the doorbell
			t.Fatalf("%d descriptors open after Close, want %d", n, fds0+2)
		}
		if _, n := countMaps(t); n != memfd0+1 { // the test's mapping of its memfd
			t.Fatalf("%d memfd mappings after Close, want %d", n, memfd0+1)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// TestNoLeaks runs open/register/import/create-queue/job/close cycles and checks
// that descriptors and mappings do not grow.
func TestNoLeaks(t *testing.T) {
	forEachDevice(t, func(t *testing.T, dev device.Device) {
		d := New(dev, nil)
		fd, mem := sealedMemfd(t, 4096)
		copy(mem, "leak check")
		cycle := func(i int) {
			c, err := d.Open(Cred{UID: uint32(i % 7)})
			if err != nil {
				t.Fatal(err)
			}
			h, _, err := c.RegisterMemory(fd, true)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.ImportKey(device.KeyAES, make([]byte, 16)); err != nil {
				t.Fatal(err)
			}
			q, err := c.CreateQueue(QueueOptions{Depth: 8})
			if err != nil {
				t.Fatal(err)
			}
			if i%10 == 0 { // run a job now and then, to completion
				cl := &client{t: t, q: q, buf: make([]byte, ring.CQESize)}
				cl.sq, _ = ring.NewProducer(q.SQ())
				bell, err := q.Doorbell()
				if err != nil {
					t.Fatal(err)
				}
				cl.sq.SetNotifier(bell)
				cl.cq, _ = ring.NewConsumer(q.CQ())
				s := ring.SQE{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: h, Len: 10}, Dst: ring.BufRef{Region: h, Off: 64, Len: 32}}
				cqe := cl.run(s)
				bell.Close()
				if cqe.Status != ring.StatusOK {
					t.Fatalf("job in cycle %d: %v", i, cqe.Status)
				}
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
		cycle(0) // warm up: lazily created runtime state
		fds0 := countFDs(t)
		maps0, memfd0 := countMaps(t)
		n := 1000
		if testing.Short() {
			n = 100
		}
		for i := range n {
			cycle(i)
		}
		fds1 := countFDs(t)
		maps1, memfd1 := countMaps(t)
		t.Logf("%d cycles: descriptors %d -> %d, mappings %d -> %d, memfd mappings %d -> %d", n, fds0, fds1, maps0, maps1, memfd0, memfd1)
		if fds1 != fds0 {
			t.Errorf("descriptors grew from %d to %d", fds0, fds1)
		}
		if memfd1 != memfd0 {
			t.Errorf("memfd mappings grew from %d to %d", memfd0, memfd1)
		}
		// Every driver mapping is memfd-backed and counted exactly above. The Go
		// heap (and the race detector's shadow) may add a few anonymous mappings;
		// a leak would add at least one per cycle.
		if maps1 > maps0+n/10 {
			t.Errorf("mappings grew from %d to %d", maps0, maps1)
		}
		if n := d.Contexts(); n != 0 {
			t.Errorf("%d contexts left open", n)
		}
	})
}
