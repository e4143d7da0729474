package sim

import (
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// Fair share.
//
// A fetched job can wait in two places: for an engine of its class (the
// model), and for a host worker to compute it. Both are served by weight, in
// two levels: tenants (a driver context, device.Tenant) against each other,
// and within a tenant its queues against each other. Each (stage, class) pair
// is its own fair queue, so classes never wait for each other there.
//
// The discipline is start-time fair queueing (Goyal, Vin and Cheng, 1996),
// which gives the same shares as deficit round robin by cost without a
// quantum to tune: every lane (a tenant's or a queue's place in a fair queue)
// carries a virtual start tag; the backlogged lane with the smallest tag is
// served next, and its tag advances by the job's cost divided by its weight;
// a lane that becomes backlogged starts at the virtual time of the job last
// served, so idleness earns no credit. Over any interval in which n lanes of
// equal weight stay backlogged, each gets 1/n of the cost served, within one
// job's cost.
//
// The cost at the engines is the job's modelled engine time, known at
// admission. The cost at the host is its measured compute time: a job is
// charged a running estimate when it is dispatched and corrected when it
// comes back.

// stage is where a fetched job waits.
type stage uint8

const (
	atEngine stage = iota // for an engine of its class, in the model
	atHost                // for a host worker to compute it
	numStages
)

// admitAhead is how much engine time may be booked ahead of a job's arrival
// at its engine when the job is admitted to the model. Admitting only what
// an engine can start at once keeps one tenant's backlog out of the engines'
// calendar, where it would be served in fetch order ahead of everyone else's;
// the margin keeps the engines busy through the front end's own delays. A
// newly busy tenant's job waits at most this much engine time plus one job
// per engine behind the jobs already booked.
const admitAhead = 50 * time.Microsecond

// hostRecent is how long a class that had work for the host workers keeps a
// claim on one of them: a class whose clients reap and resubmit between
// jobs leaves the host stage empty for a moment, and must not lose every
// worker to another class's long jobs in that moment.
const hostRecent = 2 * time.Millisecond

// tagScale turns a cost in nanoseconds into virtual time at weight 1, so that
// integer division by a weight up to the driver's maximum loses nothing that
// matters.
const tagScale = 1024

// lane is a queue's or a tenant's place in one fair queue.
type lane struct {
	tag  int64 // virtual start tag of the next job while backlogged; finish tag of the last one after
	n    int   // jobs waiting (a tenant's: over all its queues)
	head *job  // a queue's lane: its jobs, in fetch order
	tail *job
}

// tenantLane is a tenant's lane with the fair queue between its queues.
type tenantLane struct {
	lane
	v      int64    // virtual time among its queues
	active []*queue // its queues with jobs waiting
}

// fairQueue is one stage of one class: the tenants with jobs waiting there.
type fairQueue struct {
	v      int64 // virtual time among tenants
	n      int   // jobs waiting
	active []*tenant
}

// tenant is the device's state of one device.Tenant.
type tenant struct {
	key      *device.Tenant // nil: a queue of its own
	weight   int
	limit    int // jobs in flight across its queues, at most; 0: no limit
	inflight int
	queues   int // live queues
	lanes    [numStages][ring.NumClasses]tenantLane
}

// room returns how many more jobs the tenant may have in flight.
func (t *tenant) room() int {
	if t.limit == 0 {
		return maxInFlight
	}
	return t.limit - t.inflight
}

// tenantFor returns the tenant of a new queue, creating it on its first queue.
func (d *Device) tenantFor(key *device.Tenant) *tenant {
	if key != nil {
		if t, ok := d.tenants[key]; ok {
			t.queues++
			return t
		}
	}
	t := &tenant{key: key, weight: 1, queues: 1}
	if key != nil {
		t.weight, t.limit = max(key.Weight, 1), max(key.MaxInFlight, 0)
		d.tenants[key] = t
	}
	return t
}

// dropTenant forgets a removed queue's tenant once it has no queue left.
func (d *Device) dropTenant(t *tenant) {
	if t.queues--; t.queues == 0 && t.key != nil {
		delete(d.tenants, t.key)
	}
}

// enqueue makes j wait at stage s.
func (d *Device) enqueue(s stage, j *job) {
	c := j.class
	q := j.q
	t := q.tenant
	ql, tl, fq := &q.lanes[s][c], &t.lanes[s][c], &d.fq[s][c]
	if ql.n == 0 {
		ql.tag = max(ql.tag, tl.v)
		tl.active = append(tl.active, q)
		ql.head = j
	} else {
		ql.tail.next = j
	}
	ql.tail = j
	ql.n++
	if tl.n == 0 {
		tl.tag = max(tl.tag, fq.v)
		fq.active = append(fq.active, t)
	}
	tl.n++
	fq.n++
}

// next returns the job that stage s of class c serves next: of the tenant
// with the smallest tag, the queue with the smallest tag. fq.n must be > 0.
func (d *Device) next(s stage, c ring.Class) *job {
	fq := &d.fq[s][c]
	t := fq.active[0]
	for _, x := range fq.active[1:] {
		if x.lanes[s][c].tag < t.lanes[s][c].tag {
			t = x
		}
	}
	tl := &t.lanes[s][c]
	q := tl.active[0]
	for _, x := range tl.active[1:] {
		if x.lanes[s][c].tag < q.lanes[s][c].tag {
			q = x
		}
	}
	return q.lanes[s][c].head
}

// take removes j, the job next returned, and charges its tenant and queue
// cost nanoseconds of the stage's time.
func (d *Device) take(s stage, j *job, cost time.Duration) {
	c := j.class
	q := j.q
	t := q.tenant
	ql, tl, fq := &q.lanes[s][c], &t.lanes[s][c], &d.fq[s][c]
	ql.head = j.next
	j.next = nil
	if ql.head == nil {
		ql.tail = nil
	}
	fq.v, tl.v = tl.tag, ql.tag
	ql.n--
	tl.n--
	fq.n--
	d.charge(s, j, cost)
	if ql.n == 0 {
		tl.active = remove(tl.active, q)
	}
	if tl.n == 0 {
		fq.active = remove(fq.active, t)
	}
}

// charge advances j's tenant and queue tags by cost at stage s. A negative
// cost corrects an estimate charged earlier.
func (d *Device) charge(s stage, j *job, cost time.Duration) {
	v := int64(cost) * tagScale
	q := j.q
	q.lanes[s][j.class].tag += v / int64(q.weight)
	q.tenant.lanes[s][j.class].tag += v / int64(q.tenant.weight)
}

// flushLanes completes, flushed, every job of q waiting at either stage.
func (d *Device) flushLanes(q *queue, now time.Duration) {
	t := q.tenant
	for s := range q.lanes {
		for c := range q.lanes[s] {
			ql := &q.lanes[s][c]
			if ql.n == 0 {
				continue
			}
			tl, fq := &t.lanes[s][c], &d.fq[s][c]
			tl.n -= ql.n
			fq.n -= ql.n
			tl.active = remove(tl.active, q)
			if tl.n == 0 {
				fq.active = remove(fq.active, t)
			}
			j := ql.head
			ql.head, ql.tail, ql.n = nil, nil, 0
			for j != nil {
				nx := j.next
				j.next = nil
				d.flush(j)
				d.complete(j, now)
				j = nx
			}
		}
	}
}

// remove deletes x from s, which has no order to keep.
func remove[T comparable](s []T, x T) []T {
	for i, y := range s {
		if y == x {
			var zero T
			s[i] = s[len(s)-1]
			s[len(s)-1] = zero
			return s[:len(s)-1]
		}
	}
	return s
}

// The engine stage.

// gated reports whether jobs of class c wait for the model's engines: a
// class with engines, on a device with a timing model.
func (d *Device) gated(c ring.Class) bool {
	return c != ring.ClassNone && !d.model.host
}

// toEngine admits j to the model if its engine can start it at once and
// nobody of its class waits before it; else j waits its turn.
func (d *Device) toEngine(j *job, now time.Duration) {
	if d.fq[atEngine][j.class].n > 0 || d.model.Wait(now, modelJob(j)) > admitAhead {
		d.enqueue(atEngine, j)
		d.admitAt[j.class] = now // look again this round's end
		return
	}
	d.admit(j, now)
}

// admitWaiting admits jobs waiting for engines, fairly, for as long as an
// engine can start them at once, and notes when each class can take its next.
func (d *Device) admitWaiting(now time.Duration) bool {
	any := false
	for c := range d.fq[atEngine] {
		fq := &d.fq[atEngine][c]
		if fq.n == 0 || d.admitAt[c] > now {
			continue
		}
		for fq.n > 0 {
			j := d.next(atEngine, ring.Class(c))
			if w := d.model.Wait(now, modelJob(j)); w > admitAhead {
				d.admitAt[c] = now + w - admitAhead
				break
			}
			d.take(atEngine, j, d.model.Costs(modelJob(j)).Service)
			d.admit(j, now)
			any = true
		}
	}
	return any
}

// nextAdmit returns the earliest time a class with jobs waiting for engines
// can admit one, and false if none waits.
func (d *Device) nextAdmit() (time.Duration, bool) {
	var at time.Duration
	ok := false
	for c := range d.fq[atEngine] {
		if d.fq[atEngine][c].n > 0 && (!ok || d.admitAt[c] < at) {
			at, ok = d.admitAt[c], true
		}
	}
	return at, ok
}

func modelJob(j *job) Job {
	return Job{Op: j.sqe.Opcode, KeyBits: keyBits(j), Bytes: len(j.src)}
}

// The host stage.

// toHost hands j to a worker if one is free for its class and nobody of its
// class waits before it; else j waits its turn.
func (d *Device) toHost(j *job, now time.Duration) {
	c := j.class
	d.hostSeen[c] = now
	if d.fq[atHost][c].n == 0 && d.computing < d.cfg.workers && d.running[c] < d.hostCap(c, now) {
		d.dispatch(j)
		return
	}
	d.enqueue(atHost, j)
}

// hostCap is how many workers class c may hold at once: all of them, less one
// for each other class that has, or just had, work for the host, so that no
// class takes every worker from another; at least one.
func (d *Device) hostCap(c ring.Class, now time.Duration) int {
	others := 0
	for o := range d.running {
		if ring.Class(o) == c {
			continue
		}
		if d.running[o] > 0 || d.fq[atHost][o].n > 0 || (d.hostSeen[o] != 0 && now-d.hostSeen[o] < hostRecent) {
			others++
		}
	}
	return max(d.cfg.workers-others, 1)
}

// dispatchWaiting hands waiting jobs to free workers: the class with fewest
// workers first, and within it the job the fair queue serves next.
func (d *Device) dispatchWaiting(now time.Duration) {
	for d.computing < d.cfg.workers {
		best := -1
		for i := range d.fq[atHost] {
			c := (d.hostRR + i) % len(d.fq[atHost])
			if d.fq[atHost][c].n == 0 || d.running[c] >= d.hostCap(ring.Class(c), now) {
				continue
			}
			if best < 0 || d.running[c] < d.running[best] {
				best = c
			}
		}
		if best < 0 {
			return
		}
		d.hostRR = best + 1
		j := d.next(atHost, ring.Class(best))
		d.take(atHost, j, 0)
		d.hostSeen[best] = now
		d.dispatch(j)
	}
}

// minHostCost is the least a job is charged for host time before it has
// run: a queue whose jobs have never run must not win every tie.
const minHostCost = time.Microsecond

// dispatch sends j to a worker, charging its queue's estimated host cost.
func (d *Device) dispatch(j *job) {
	q := j.q
	j.est = max(q.hostCost[j.class], minHostCost)
	d.charge(atHost, j, j.est)
	d.running[j.class]++
	d.computing++
	d.work <- j // never blocks: at most one job per worker is out
}

// computed takes back a job a worker finished, correcting its charge by what
// it really cost and learning its queue's cost for the next estimate.
func (d *Device) computed(j *job) {
	d.running[j.class]--
	d.computing--
	cost := j.hostTime
	d.charge(atHost, j, cost-j.est)
	q := j.q
	q.hostCost[j.class] += (cost - q.hostCost[j.class]) / 4
}
