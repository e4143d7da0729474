package sim

import (
	"slices"
	"time"

	"github.com/accelq/accelq/ring"
)

// The timing model.
//
// A device is a pipeline of three kinds of resource, and a job passes through them
// in order:
//
//	fetch ── fixed latency ── DMA in ── engine ── DMA out ──> completion visible
//
// Fixed latency F (Profile.Latency) is the doorbell, the descriptor fetch and
// parse, and the completion write. It is pipeline latency: any number of jobs can
// be in it at once, and it occupies nothing. It is charged first, so a job's data
// movement starts at a = t + F.
//
// DMA in: the source crosses the link. A DMA read has a setup latency s (the read
// request's round trip; pcie-bench: 546 ns median) and a single read stream moves
// a byte every p ns (pcie-bench: ~0.29 ns/B, so 1 KB takes ~0.85 us). Both are
// pipelined latency: a device keeps many reads in flight, so they occupy nothing.
// What is shared is the link's bandwidth B: each byte holds the link for 1/B. The
// input arrives when both its own stream and its turn on the link are done:
//
//	in = max(a + s + n·p, link_in.reserve(a + s, n/B))
//
// Engine: the job takes the earliest-free engine of its class (a lazily grown pool
// of Profile.Engines engines) for its service time
//
//	S = setup + n/R                (symmetric, compression; R = Profile.Rate)
//	S = Cost[op][key bits]         (asymmetric; the smallest tabled key size >= the job's)
//
// and starts at e = max(in, that engine's free time).
//
// DMA out: the result is written back with posted writes, which need no round
// trip, so it only holds the link's other direction (PCIe is full duplex) for m/B:
//
//	done = link_out.reserve(e + S, m/B)
//
// Since every term is at least a = t + F, this is done = max(t + F, when the link
// in, the engine and the link out are done, in that order). Busy, the engine
// occupancy reported to the caller, is S.
//
// Output size m: the model does not know the real output length when it schedules,
// so it estimates. Ciphers and compression: m = n, the input size (for compression
// the real ratio is unknown; decompression really writes more). Digests and MACs:
// the digest size. CRC32C: 0 (the result travels in the CQE). Asymmetric: key
// bits / 8, a signature or shared secret; verification writes nothing.
//
// Each link direction is a calendar of busy spans, not a FIFO counter, because
// jobs reach the link out of fetch order (an RSA sign fetched first writes its
// result back long after an AES job fetched next). reserve(at, d) gives a transfer
// every free moment from at on until it has had d, as PCIe interleaves the packets
// of concurrent transfers; so a small transfer is not queued behind one booked
// later in time, and a large one flows around small ones. Engines, by contrast,
// serve in fetch order: a job waits for the earliest-free engine of its class, as
// hardware dispatches requests in the order it fetched them.
//
// Cost: Schedule is O(log n) in the bookings ahead plus, when a transfer lands
// amid them, a move of the bookings between it and the nearer end of the
// calendar; BenchmarkModelSchedule measures ~65 ns steady and ~70 ns with 4096
// jobs in flight on two backlogged engine classes, with no allocation.
//
// Unloaded, a job therefore takes L = F + (s + n·max(p, 1/B)) + S + m/B, and with D
// jobs kept in flight the throughput is min(E/S, B/n, B/m, D/L): engines, link in,
// link out, or Little's law. model_test.go checks both against a closed loop.
//
// The qat-gen2 profile is calibrated to the published RSA-2048 sign anchor
// (intel/QAT_Engine#132): 2,310 signs/s with one request in flight and 65,901/s
// with 72. With D = 72 the device is engine bound (72/L = 166k/s > 65.9k/s), so
// E/S = 65,901/s; with E = 10 engines (one endpoint) S = 151.7 us. Synchronously
// 1/2310 s = 432.9 us = F + DMA + S, with DMA = 0.555 us in (32-byte digest) and
// 0.021 us out (256-byte signature), so F = 280.6 us. See the profile's
// description for what that F stands for and for other readings of the anchor.

// Job is what the model needs to know of one job.
type Job struct {
	Op      ring.Opcode
	KeyBits int // RSA modulus bits / curve bits; 0 for symmetric and compression
	Bytes   int // source length
}

// Output size estimates other than "the input size".
const (
	outSameAsInput = -1
	outKeySize     = -2
)

// opModel is the compiled timing of one operation.
type opModel struct {
	ok        bool
	class     ring.Class
	fixed     time.Duration // F
	setup     time.Duration // engine time per job
	nsPerByte float64       // engine time per byte, 1/R
	costs     []bitsCost    // asymmetric, by ascending key size
	out       int           // output bytes, or outSameAsInput, outKeySize
}

type bitsCost struct {
	bits int
	cost time.Duration
}

// Model is the timing model of one device instance. It is not safe for
// concurrent use: the device loop owns it.
type Model struct {
	host    bool // host speed: never delay
	ops     [256]opModel
	engines [ring.NumClasses]enginePool
	linkIn  timeline
	linkOut timeline
	linkNs  float64       // link time per byte, 1/B; 0: no bandwidth cap
	dmaSet  time.Duration // s
	dmaNs   float64       // p
	horizon time.Duration // the latest fetch time seen
}

// NewModel compiles a validated profile into a model. Operations the profile
// does not list complete at once (the device refuses them before scheduling).
func NewModel(p *Profile) *Model {
	m := &Model{host: p.HostSpeed}
	for c := range m.engines {
		m.engines[c].limit = p.Engines[c]
		m.engines[c].free = make([]time.Duration, 0, min(p.Engines[c], 64))
	}
	if m.host {
		return m
	}
	if p.Link.Bandwidth > 0 {
		m.linkNs = 1 / p.Link.Bandwidth
	}
	m.dmaSet, m.dmaNs = p.Link.Setup, p.Link.PerByte
	m.linkIn.spans = make([]busySpan, 0, 64)
	m.linkOut.spans = make([]busySpan, 0, 64)
	for _, o := range append([]ring.Opcode{ring.OpNop}, p.Ops...) {
		c, _ := o.Class()
		om := opModel{ok: true, class: c, out: outputSize(o)}
		om.fixed, _, _ = lookupTiming(p.Latency, o)
		om.setup, _, _ = lookupTiming(p.EngineSetup, o)
		switch c {
		case ring.ClassAsymmetric:
			t, _, _ := lookupTiming(p.Cost, o)
			for b, d := range t {
				om.costs = append(om.costs, bitsCost{b, d})
			}
			slices.SortFunc(om.costs, func(x, y bitsCost) int { return x.bits - y.bits })
		case ring.ClassSymmetric, ring.ClassCompression:
			if r, _, ok := lookupTiming(p.Rate, o); ok && r > 0 {
				om.nsPerByte = 1 / r
			}
		}
		m.ops[o] = om
	}
	return m
}

// outputSize is the model's estimate of a job's output (see the model's comment).
func outputSize(o ring.Opcode) int {
	switch o {
	case ring.OpSHA256, ring.OpHMACSHA256:
		return 32
	case ring.OpSHA384:
		return 48
	case ring.OpSHA512, ring.OpHMACSHA512:
		return 64
	case ring.OpCRC32C, ring.OpNop, ring.OpRSAVerifyPSS, ring.OpRSAVerifyPKCS1v15, ring.OpECDSAVerify, ring.OpEd25519Verify:
		return 0
	}
	if c, _ := o.Class(); c == ring.ClassAsymmetric {
		return outKeySize
	}
	return outSameAsInput
}

// Costs is the unloaded cost of a job, stage by stage.
type Costs struct {
	Class   ring.Class
	Fixed   time.Duration // F
	DMAIn   time.Duration // s + n·max(p, 1/B)
	Service time.Duration // S: engine occupancy
	DMAOut  time.Duration // m/B
	InLink  time.Duration // n/B: link-in occupancy
	OutLink time.Duration // m/B: link-out occupancy
}

// Latency is the job's latency on an idle device.
func (c Costs) Latency() time.Duration { return c.Fixed + c.DMAIn + c.Service + c.DMAOut }

// Costs returns what a job costs on an idle device. Benchmarks print it beside
// what they measure.
func (m *Model) Costs(j Job) Costs {
	o := &m.ops[j.Op]
	if m.host || !o.ok {
		return Costs{}
	}
	c := Costs{Class: o.class, Fixed: o.fixed}
	if o.class == ring.ClassNone {
		return c
	}
	n, out := m.sizes(o, j)
	if n > 0 {
		c.InLink = durNs(float64(n) * m.linkNs)
		c.DMAIn = m.dmaSet + max(durNs(float64(n)*m.dmaNs), c.InLink)
	}
	c.Service = o.service(j, n)
	c.OutLink = durNs(float64(out) * m.linkNs)
	c.DMAOut = c.OutLink
	return c
}

// Engines returns how many engines of class c the model has.
func (m *Model) Engines(c ring.Class) int { return m.engines[c].limit }

func (m *Model) sizes(o *opModel, j Job) (in, out int) {
	in = max(j.Bytes, 0)
	switch o.out {
	case outSameAsInput:
		out = in
	case outKeySize:
		out = max(j.KeyBits, 0) / 8
	default:
		out = o.out
	}
	return in, out
}

// service returns a job's engine time S.
func (o *opModel) service(j Job, n int) time.Duration {
	if o.class == ring.ClassAsymmetric {
		if len(o.costs) == 0 {
			return o.setup
		}
		// The smallest tabled key size that covers the job's; beyond the table,
		// the largest (device keys are bounded, so tables cover them).
		for _, bc := range o.costs {
			if bc.bits >= j.KeyBits {
				return o.setup + bc.cost
			}
		}
		return o.setup + o.costs[len(o.costs)-1].cost
	}
	return o.setup + durNs(float64(n)*o.nsPerByte)
}

// Schedule admits a job whose descriptor the device fetched at time t (time since
// device start) and returns when its completion becomes visible to the client and
// how long it occupied an engine. Fetch times should not decrease.
func (m *Model) Schedule(t time.Duration, j Job) (done time.Duration, busy time.Duration) {
	o := &m.ops[j.Op]
	if m.host || !o.ok {
		return t, 0
	}
	if t > m.horizon {
		m.horizon = t
		m.linkIn.forget(t)
		m.linkOut.forget(t)
	}
	a := t + o.fixed // fixed pipeline latency first; it occupies nothing
	if o.class == ring.ClassNone {
		return a, 0
	}
	n, out := m.sizes(o, j)

	// 1. DMA in.
	in := a
	if n > 0 {
		start := a + m.dmaSet
		in = start + durNs(float64(n)*m.dmaNs)
		if m.linkNs > 0 {
			in = max(in, m.linkIn.reserve(start, durNs(float64(n)*m.linkNs)))
		}
	}
	// 2. Engine.
	busy = o.service(j, n)
	done = m.engines[o.class].run(in, busy) + busy
	// 3. DMA out.
	if out > 0 && m.linkNs > 0 {
		done = m.linkOut.reserve(done, durNs(float64(out)*m.linkNs))
	}
	return done, busy
}

// Wait returns how long a job fetched at time t would wait for an engine of
// its class once its input had arrived: 0 when an engine would be free. The
// link's contention is left out: it is an admission test, not a schedule.
func (m *Model) Wait(t time.Duration, j Job) time.Duration {
	o := &m.ops[j.Op]
	if m.host || !o.ok || o.class == ring.ClassNone {
		return 0
	}
	p := &m.engines[o.class]
	if len(p.free) < p.limit {
		return 0
	}
	ready := t + o.fixed
	if j.Bytes > 0 {
		ready += m.dmaSet + durNs(float64(j.Bytes)*m.dmaNs)
	}
	return max(p.free[0]-ready, 0)
}

// Stall takes an engine of class c out of service for d from time t, as a
// hung engine would: jobs that would have run on it wait, or go to another.
// It does nothing for the ideal profile, which has no engines to stall.
func (m *Model) Stall(t time.Duration, c ring.Class, d time.Duration) {
	if m.host || c == ring.ClassNone || int(c) >= len(m.engines) || m.engines[c].limit == 0 {
		return
	}
	m.engines[c].run(t, d)
}

// Reset makes every engine and the link idle (device reset).
func (m *Model) Reset() {
	for c := range m.engines {
		m.engines[c].free = m.engines[c].free[:0]
	}
	m.linkIn.reset()
	m.linkOut.reset()
}

// dur converts nanoseconds to a duration, rounded.
func durNs(ns float64) time.Duration { return time.Duration(ns + 0.5) }

// enginePool is the engines of one class: a min-heap of the times the engines in
// use become free. Engines are created on first need, up to limit, so a profile
// with a million engines (ideal) costs only as many as jobs ever overlap.
type enginePool struct {
	limit int
	free  []time.Duration
}

// run gives a job ready at time ready the earliest-free engine for d and returns
// when the job starts.
func (p *enginePool) run(ready, d time.Duration) time.Duration {
	h := p.free
	if len(h) == 0 || (h[0] > ready && len(h) < p.limit) {
		// An idle engine: take a new one from the pool.
		p.free = append(h, ready+d)
		p.up(len(p.free) - 1)
		return ready
	}
	start := max(ready, h[0])
	h[0] = start + d
	p.down(0)
	return start
}

func (p *enginePool) up(i int) {
	h := p.free
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent] <= h[i] {
			return
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func (p *enginePool) down(i int) {
	h := p.free
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && h[r] < h[l] {
			c = r
		}
		if h[i] <= h[c] {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// timeline is the link in one direction as a calendar of busy spans, sorted,
// disjoint and not touching. A transfer arriving at time at takes every free
// moment from at on until it has had its d: PCIe splits transfers into packets
// that interleave, so a large transfer flows around small ones booked earlier
// instead of waiting for a gap its own size. Filled gaps merge spans, so the
// calendar stays short: each span is created once and merged away once.
type timeline struct {
	spans []busySpan // live spans are spans[head:]
	head  int        // spans[:head] ended before the horizon and are forgotten
}

type busySpan struct{ start, end time.Duration }

// reserve books d of link time from at on and returns when the transfer ends.
func (tl *timeline) reserve(at, d time.Duration) time.Duration {
	if d <= 0 {
		return at
	}
	s := tl.spans
	// i: the first span that ends after at.
	lo, hi := tl.head, len(s)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s[mid].end <= at {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	i, cur := lo, at
	if i < len(s) && s[i].start <= cur {
		cur = s[i].end // at falls in a busy span
		i++
	}
	first := cur // the transfer's first moment on the link
	// Fill gaps until d is done; spans i..j-1 are then inside [first, cur].
	j := i
	for rem := d; ; j++ {
		if j == len(s) || s[j].start-cur >= rem {
			cur += rem
			break
		}
		rem -= s[j].start - cur
		cur = s[j].end
	}
	// [first, cur] is now busy: replace spans lo..hi-1 by one span, merging with a
	// span ending at first (i-1) and one starting at cur (j).
	merged := busySpan{first, cur}
	lo, hi = i, j
	if lo > tl.head && s[lo-1].end == first {
		lo--
		merged.start = s[lo].start
	}
	if hi < len(s) && s[hi].start == cur {
		merged.end = s[hi].end
		hi++
	}
	tl.replace(lo, hi, merged)
	return cur
}

// replace puts x in place of spans[lo:hi], moving whichever side is shorter, so
// that changes near either end (near the present, or the latest booking) are
// cheap however long the calendar grows.
func (tl *timeline) replace(lo, hi int, x busySpan) {
	s := tl.spans
	n := hi - lo
	if n == 0 && lo-tl.head < len(s)-lo && tl.head == 0 {
		lo += tl.makeRoom()
		s = tl.spans
	}
	switch {
	case n == 1:
		s[lo] = x
	case n == 0 && lo-tl.head < len(s)-lo:
		// Insert near the front: move the prefix down into a free slot.
		copy(s[tl.head-1:], s[tl.head:lo])
		tl.head--
		s[lo-1] = x
	case n == 0:
		tl.spans = slices.Insert(s, lo, x)
	case lo-tl.head < len(s)-hi:
		// Remove n-1 spans by moving the prefix up.
		s[hi-1] = x
		copy(s[tl.head+n-1:hi-1], s[tl.head:lo])
		tl.head += n - 1
	default:
		s[lo] = x
		tl.spans = slices.Delete(s, lo+1, hi)
	}
}

// makeRoom moves the live spans up to leave free slots at the front, as many as
// half the live spans (at least 64), and returns how far they moved. Its O(n) cost
// buys n/2 cheap inserts at the front.
func (tl *timeline) makeRoom() int {
	s := tl.spans
	k := max(64, len(s)/2)
	if len(s)+k > cap(s) {
		grown := make([]busySpan, len(s)+k, 2*(len(s)+k))
		copy(grown[k:], s)
		s = grown
	} else {
		s = s[:len(s)+k]
		copy(s[k:], s[:len(s)-k])
	}
	tl.spans, tl.head = s, k
	return k
}

// forget drops spans that ended by t, which no later transfer can touch.
func (tl *timeline) forget(t time.Duration) {
	s := tl.spans
	for tl.head < len(s) && s[tl.head].end <= t {
		tl.head++
	}
	if tl.head == len(s) {
		tl.spans, tl.head = s[:0], 0
		return
	}
	// Compact when the forgotten prefix dominates, keeping the cost O(1) amortized
	// and leaving room at the front (as much as there are live spans) for inserts
	// near the present.
	if live := len(s) - tl.head; tl.head > 64 && tl.head > 3*live {
		keep := max(live, 64)
		n := copy(s[keep:], s[tl.head:])
		tl.spans = s[:keep+n]
		tl.head = keep
	}
}

func (tl *timeline) reset() {
	tl.spans = tl.spans[:0]
	tl.head = 0
}
