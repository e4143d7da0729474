package driver

// A tiny device for tests that need to control when jobs complete: it runs
// SHA-256 and NOP, translates every buffer through the queue's address space
// like a real device, and can hold jobs in flight (pinned) until released.

import (
	"crypto/hmac"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

type fakeDevice struct {
	mu     sync.Mutex
	queues []*fakeQueue
	hold   chan struct{} // when non-nil, jobs wait (pinned) until it is closed
	nheld  int
}

func newFakeDevice() *fakeDevice { return &fakeDevice{} }

func (d *fakeDevice) Info() device.Info {
	return device.Info{Name: "fake0", Profile: "fake", Ops: []ring.Opcode{ring.OpNop, ring.OpSHA256, ring.OpHMACSHA256}, MaxDepth: 4096}
}

// OnReset: the fake device never resets.
func (d *fakeDevice) OnReset(func()) {}

func (d *fakeDevice) Reset() error        { return nil }
func (d *fakeDevice) Stats() device.Stats { return device.Stats{} }
func (d *fakeDevice) Close() error        { return nil }

// holdJobs makes new jobs wait, pinned, until release.
func (d *fakeDevice) holdJobs() {
	d.mu.Lock()
	d.hold = make(chan struct{})
	d.mu.Unlock()
}

func (d *fakeDevice) release() {
	d.mu.Lock()
	if d.hold != nil {
		close(d.hold)
		d.hold = nil
	}
	d.mu.Unlock()
}

// heldJobs returns the number of jobs waiting.
func (d *fakeDevice) heldJobs() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nheld
}

type fakeQueue struct {
	dev   *fakeDevice
	cfg   device.QueueConfig
	sq    *ring.Consumer
	cq    *ring.Producer
	bell  *ring.EventNotifier // never slept on: the fake device polls
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	count device.Counters
}

func (d *fakeDevice) CreateQueue(cfg device.QueueConfig) (device.Queue, error) {
	sq, err := ring.NewConsumer(cfg.SQ)
	if err != nil {
		return nil, err
	}
	cq, err := ring.NewProducer(cfg.CQ)
	if err != nil {
		return nil, err
	}
	if cfg.CQNotifier != nil {
		cq.SetNotifier(cfg.CQNotifier)
	}
	bell, err := ring.NewEventNotifier()
	if err != nil {
		return nil, err
	}
	q := &fakeQueue{dev: d, cfg: cfg, sq: sq, cq: cq, bell: bell, stop: make(chan struct{}), done: make(chan struct{})}
	d.mu.Lock()
	d.queues = append(d.queues, q)
	d.mu.Unlock()
	go q.loop()
	return q, nil
}

func (q *fakeQueue) Stats() device.Counters { return q.count }
func (q *fakeQueue) Rearm() error           { return nil }

func (q *fakeQueue) Doorbell() *ring.EventNotifier { return q.bell }

func (q *fakeQueue) Destroy() error {
	q.once.Do(func() {
		close(q.stop)
		<-q.done
		q.bell.Close()
	})
	<-q.done
	return nil
}

func (q *fakeQueue) loop() {
	defer close(q.done)
	var buf [ring.SQESize]byte
	for {
		select {
		case <-q.stop:
			// Flush what was submitted and not fetched, as a device must.
			for {
				n, err := q.sq.Pop(buf[:])
				if n == 0 || err != nil {
					return
				}
				var s ring.SQE
				s.Decode(buf[:])
				q.post(ring.CQE{UserData: s.UserData, Status: ring.StatusFlushed})
			}
		default:
		}
		n, err := q.sq.Pop(buf[:])
		if err != nil {
			return
		}
		if n == 0 {
			time.Sleep(20 * time.Microsecond)
			continue
		}
		var s ring.SQE
		if err := s.Decode(buf[:]); err != nil {
			q.post(ring.CQE{UserData: s.UserData, Status: ring.StatusInvalid})
			continue
		}
		q.post(q.run(&s))
	}
}

func (q *fakeQueue) post(c ring.CQE) {
	for {
		ok, err := q.cq.Reserve(1)
		if err != nil {
			return
		}
		if ok == 1 {
			break
		}
		time.Sleep(20 * time.Microsecond)
	}
	c.Encode(q.cq.Entry(0))
	q.cq.Commit(1)
	q.cq.Wake()
}

func (q *fakeQueue) run(s *ring.SQE) ring.CQE {
	c := ring.CQE{UserData: s.UserData}
	if !q.cfg.Space.Allowed(s.Opcode) {
		c.Status = ring.StatusNotPermitted
		return c
	}
	var pins []device.Pin
	defer func() {
		for _, p := range pins {
			p.Unpin()
		}
	}()
	var key *device.Key
	if s.Key != 0 {
		k, p, st := q.cfg.Space.Key(s.Key)
		if st != ring.StatusOK {
			c.Status = st
			return c
		}
		pins = append(pins, p)
		key = k
	}
	src, p, st := q.cfg.Space.Translate(s.Src, device.AccessRead)
	if st != ring.StatusOK {
		c.Status = st
		return c
	}
	if p != nil {
		pins = append(pins, p)
	}
	dst, p, st := q.cfg.Space.Translate(s.Dst, device.AccessWrite)
	if st != ring.StatusOK {
		c.Status = st
		return c
	}
	if p != nil {
		pins = append(pins, p)
	}
	q.dev.mu.Lock()
	hold := q.dev.hold
	if hold != nil {
		q.dev.nheld++
	}
	q.dev.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-q.stop:
		}
		q.dev.mu.Lock()
		q.dev.nheld--
		q.dev.mu.Unlock()
		select {
		case <-q.stop:
			c.Status = ring.StatusFlushed
			return c
		default:
		}
	}
	switch s.Opcode {
	case ring.OpNop:
	case ring.OpSHA256:
		if len(dst) < sha256.Size {
			c.Status = ring.StatusNoSpace
			return c
		}
		sum := sha256.Sum256(src)
		c.Result = uint32(copy(dst, sum[:]))
	case ring.OpHMACSHA256:
		if key == nil || !key.Allows(s.Opcode) {
			c.Status = ring.StatusInvalid
			return c
		}
		if len(dst) < sha256.Size {
			c.Status = ring.StatusNoSpace
			return c
		}
		m := hmac.New(sha256.New, key.Secret())
		m.Write(src)
		c.Result = uint32(copy(dst, m.Sum(nil)))
	default:
		c.Status = ring.StatusUnsupported
	}
	return c
}
