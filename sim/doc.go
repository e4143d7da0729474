// Package sim is a software accelerator: a [device.Device] standing in for Intel
// QAT, NVIDIA BlueField, HiSilicon Kunpeng and Intel IAA hardware.
//
// # Model
//
// A device has engines per class (symmetric, asymmetric, compression), a timing
// model taken from a [Profile] of published figures, and a clock. One loop
// goroutine plays the hardware's front end: it arbitrates between queues
// (weighted round robin for fetches, fair queueing for time, see Fair share
// below), fetches each SQE once, validates it, resolves every buffer reference and key handle through the queue's [device.AddressSpace], and
// hands the job to a pool of at most GOMAXPROCS compute workers that run the real
// operation. The model decides when each completion becomes visible; a job is
// posted at max(modelled completion, computation done), and when the host, not
// the model, was the limit, the CQE says so and the stats count it.
//
// In timing-only mode nothing is computed (DPDK's null device idea): the device
// measures the framework itself, and every CQE is flagged as carrying no valid
// output.
//
// Backpressure is explicit. The device fetches from a queue only while its CQ has
// room for every job in flight, so it never drops a completion, and a client that
// stops reaping stalls only itself. Every accepted SQE yields exactly one CQE,
// whatever faults are injected.
//
// The front end works in rounds: it takes finished computations and control
// requests, posts what the model says is due, and fetches from each queue a
// burst of SQEs (32 per unit of weight) with one copy out of the ring and one
// head update. A round's completions for a queue are staged privately and
// written to its CQ with one copy and one tail update, before the SQEs they
// make room for are consumed. A completion the front end reaches more than
// 20 us after its modelled time is flagged ring.CQEHostLimited and counted as
// late; [device.Stats] also reports how much of its time the front end spent
// in rounds with work, so that a measurement can tell a rate the model set
// from one the framework set.
//
// With nothing to do the front end polls for [DefaultSpin] (a client that
// submits again meanwhile pays no wake-up), yielding its P now and then; while
// jobs compute on the workers and no P is spare it sleeps at once, leaving the
// CPU to them. Asleep, it has set NEED_WAKEUP on every SQ; a client rings its
// queue's doorbell only when the flag is set. Wakers in this process (a
// worker, a control request, an embedded client through [device.Kicker]) wake
// it through a channel, with no system call; a doorbell eventfd, rung from
// another process, through a watcher goroutine parked in the runtime's
// poller. Only a sleep until a modelled completion less than 2 ms away is
// taken in ppoll, whose timeout, unlike the runtime's, is finer than a
// millisecond.
//
// # Fair share
//
// Queues belong to tenants ([device.Tenant], a driver context). A fetched job
// waits in two places, each a fair queue per engine class: for an engine
// (admitted to the model only while an engine can start it within 50 us of its
// arrival, so one tenant's backlog never fills the engines' calendar) and for
// a host worker. Both serve tenants by weight and, within a tenant, its queues
// by theirs, with start-time fair queueing on cost: modelled engine time at
// the engines, measured compute time at the workers. No class may hold every
// worker while another has work for them. A tenant's MaxInFlight bounds its
// queues together; entries beyond it stay in the SQs. Destroy flushes every
// job of the queue that waits, wherever it waits, and waits only for jobs
// executing.
package sim
