// Package device defines the narrow interface between accelq's isolation layer
// (package driver) and an accelerator: the software device in package sim today,
// hardware backends later.
//
// # Model
//
// The driver owns everything that needs trust: each client context's address space
// (the table that maps a region handle to memory, with access rights: accelq's
// IOMMU), its key slots and its policy. It hands a device a queue pair (two rings
// in memory the driver allocated) together with the context's [AddressSpace]. The
// device fetches each SQE once, resolves every buffer reference and key handle
// through that address space and nothing else, computes, writes the output, and
// posts exactly one CQE per accepted SQE. A device never sees sockets, processes
// or other contexts; it cannot name memory the address space does not hand it.
//
// A device sleeps when all its queues are empty. Clients wake it through the
// NEED_WAKEUP protocol of package ring, ringing their queue's doorbell: an eventfd
// of that queue alone, which the device watches and never reads, so a client
// that drains its doorbell or makes it blocking delays only its own jobs.
package device
