package device

import (
	"errors"
	"time"

	"github.com/accelq/accelq/ring"
)

// Device is an accelerator as the driver sees it.
type Device interface {
	// Info describes the device and what it can do.
	Info() Info
	// CreateQueue starts serving a queue pair. The rings in cfg must already be
	// initialised by the caller; the device attaches as SQ consumer and CQ producer.
	CreateQueue(cfg QueueConfig) (Queue, error)
	// Reset resets the device: every job not yet completed completes with
	// StatusFlushed, and every queue stops until Rearm.
	Reset() error
	// OnReset registers f to run after every reset, injected or requested, once
	// the device has flushed what it held. The driver rearms its queues there, as
	// a kernel driver re-initialises rings after a hardware reset: clients see
	// flushed completions, never a queue that stopped for good. f runs on its own
	// goroutine and may call Rearm.
	OnReset(f func())
	// Stats returns a snapshot of per-class counters.
	Stats() Stats
	// Close stops the device. Queues still open are flushed.
	Close() error
}

// Queue is a queue pair being served by a device.
type Queue interface {
	// Stats returns a snapshot of this queue's counters.
	Stats() Counters
	// Rearm lets a queue stopped by a device reset fetch again.
	Rearm() error
	// Doorbell is the queue's doorbell, for its client's SQ producer: the device
	// sleeps on it (among others) when every queue is empty. The device owns it
	// and closes it in Destroy; its FD is passed to a remote client, and an
	// embedded one uses a duplicate, so that no descriptor is used after
	// Destroy. The device never reads it.
	Doorbell() *ring.EventNotifier
	// Destroy stops fetching from the SQ. Jobs accepted but not yet started
	// complete with StatusFlushed; jobs already computing finish. Destroy returns
	// only when every accepted job has its CQE and the device holds no reference to
	// the queue's memory or keys, so the caller may then unmap everything.
	Destroy() error
}

// Kicker is implemented by a device queue whose device can be woken from
// within its own process without a system call: the doorbell of an embedded
// client, which shares the process with the device. Kick does nothing if the
// device is awake, and is harmless after Destroy.
type Kicker interface{ Kick() }

// QueueConfig is what the driver gives a device to serve one queue pair.
type QueueConfig struct {
	SQ          []byte        // submission ring, ring.SQESize entries, initialised
	CQ          []byte        // completion ring, ring.CQESize entries, initialised
	Space       AddressSpace  // the owning context's address space and keys
	Tenant      *Tenant       // the queue's owner, shared by its sibling queues; nil: a tenant of its own, of weight 1
	Classes     uint8         // engine classes the queue may use, as bits 1<<ring.Class
	Weight      int           // the queue's share of its tenant's time, against its sibling queues; >= 1
	MaxInFlight int           // accepted and not completed jobs of this queue, at most; 0 means the CQ size
	CopyMode    bool          // copy input to device memory before computing and output back after
	CQNotifier  ring.Notifier // how to wake the client reaping the CQ; nil: futex on the CQ's flags word
}

// Tenant is the unit of fair share: the client that owns one or more queues
// (a driver context). A device divides each engine class's time, and the host
// time spent computing for that class, between the tenants with work waiting in
// proportion to their weights, and a tenant's share between its queues in
// proportion to theirs. Queues name their tenant by pointer: every queue
// created with the same *Tenant shares its weight and its MaxInFlight. A
// Tenant's fields must not change once a queue uses it.
type Tenant struct {
	Weight      int // share against other tenants, >= 1
	MaxInFlight int // jobs accepted and not completed across all its queues, at most; 0: no limit but each queue's
}

// Access is the access a translation needs.
type Access uint8

const (
	AccessRead  Access = 1 << 0 // the device reads the buffer
	AccessWrite Access = 1 << 1 // the device writes the buffer
)

// Pin keeps a translated region or a key alive while a job uses it. The driver
// unmaps a region or zeroes a key only after its last pin is released. A device
// releases a job's pins before it posts the job's CQE.
type Pin interface{ Unpin() }

// AddressSpace is one context's memory and keys, as the driver lets the device see
// them. Implementations must be safe for concurrent use.
type AddressSpace interface {
	// Translate returns the bytes ref names, pinned. It refuses (StatusBadAddress) an
	// unknown region, a range outside the region (overflow-safe), or a write to a
	// read-only region. A zero ref yields a nil slice, a nil Pin and StatusOK.
	Translate(ref ring.BufRef, access Access) ([]byte, Pin, ring.Status)
	// Key returns the key behind handle, pinned (StatusNotPermitted if the
	// context holds no such key).
	Key(handle uint32) (*Key, Pin, ring.Status)
	// Allowed reports whether policy lets this context run op.
	Allowed(op ring.Opcode) bool
}

// Info describes a device.
type Info struct {
	Name       string               // instance name
	Profile    string               // device profile, such as "qat-gen4"
	Ops        []ring.Opcode        // operations the device implements
	Engines    [ring.NumClasses]int // engines per class
	TimingOnly bool                 // outputs are not computed; every CQE carries CQETimingOnly
	MaxDepth   int                  // largest queue depth the device accepts
}

// Supports reports whether the device implements op.
func (i *Info) Supports(op ring.Opcode) bool {
	for _, o := range i.Ops {
		if o == op {
			return true
		}
	}
	return false
}

// Counters are the statistics of a queue or an engine class.
type Counters struct {
	Submitted   uint64                 // SQEs fetched
	Completed   uint64                 // CQEs posted
	ByStatus    map[ring.Status]uint64 // CQEs by status other than StatusOK
	BytesIn     uint64                 // source bytes of completed jobs
	BytesOut    uint64                 // bytes written to destinations
	Busy        time.Duration          // modelled engine time
	HostLimited time.Duration          // time completions were late because the host computed slower than the model
	Late        uint64                 // CQEs posted later than the model allowed (computed too slowly, or the front end behind): the host, not the model, set their time
	QueueFull   uint64                 // for queues: submissions the client's producer found the SQ full for
	Throttled   uint64                 // for queues: times the device stopped fetching with SQEs waiting because the tenant had MaxInFlight jobs in flight
	Flushed     uint64                 // jobs completed with StatusFlushed
}

// Stats are a device's counters per engine class.
type Stats struct {
	Classes [ring.NumClasses]Counters
	Resets  uint64
	// FrontEndBusy is the time the device's front end (fetch, validate,
	// schedule, post) spent in rounds that found work. Over a window in
	// which it grows as fast as the wall clock, the front end was the limit,
	// not the model.
	FrontEndBusy time.Duration
	// Sleeps counts the times the front end went to sleep with nothing to do.
	Sleeps uint64
}

// ErrClosed is returned by a device or queue that has been closed or destroyed.
var ErrClosed = errors.New("device: closed")
