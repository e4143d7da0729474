// Package sim is a software accelerator: a [device.Device] standing in for Intel
// QAT, NVIDIA BlueField, HiSilicon Kunpeng and Intel IAA hardware.
//
// # Model
//
// A device has engines per class (symmetric, asymmetric, compression), a timing
// model taken from a [Profile] of published figures, and a clock. One loop
// goroutine plays the hardware's front end: it arbitrates between queues
// (weighted round robin), fetches each SQE once, validates it, resolves every
// buffer reference and key handle through the queue's [device.AddressSpace], and
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
// When every queue is empty the device sets NEED_WAKEUP on each SQ and sleeps on
// all the queues' doorbells at once (an edge-triggered epoll set); a client rings
// its queue's doorbell only when the flag is set.
package sim
