// Package ring implements accelq's shared-memory submission and completion rings
// and defines their byte layout, which is accelq's user/device ABI.
//
// # Model
//
// A ring is a single-producer single-consumer queue of fixed-size entries living in
// one byte region: ordinary memory for an embedded device, or a shared mapping of a
// memfd used by two processes at once. The region starts with a 256-byte header
// (magic, ABI version, entry size and count, then the producer index, the consumer
// index and a flags word, each on its own 64-byte cache line) followed by the entry
// array. Indices are free-running 32-bit counters; an entry's slot is index & mask.
//
// A queue pair is two rings: the client produces submission queue entries (SQE,
// 64 bytes) and the device consumes them; the device produces completion queue
// entries (CQE, 32 bytes) and the client consumes them.
//
// The ordering rules are io_uring's. The producer writes entries, then publishes
// the tail with release semantics. The consumer loads the tail with acquire
// semantics, copies each entry out exactly once (single fetch: the other side may
// rewrite shared memory at any moment, so nothing is read twice), then publishes
// the head with release semantics.
//
// Neither side trusts the other. Each keeps its own index privately and reads only
// the peer's index from shared memory; an index that is behind, or more than the
// ring size ahead, is reported as [ErrCorrupt], never followed. The geometry is
// validated once when a side attaches and cached, so a header rewritten later
// changes nothing.
//
// # Sleeping
//
// In steady state neither side makes a system call. A consumer that finds the ring
// empty may spin for a while, then set [FlagNeedWakeup], re-check the ring, and
// sleep. A producer, after publishing, checks the flag and, if set, clears it and
// wakes the consumer through a [Notifier]: a futex on the ring's flags word by
// default, or an eventfd shared by several rings. See docs/uapi.md for the
// protocol and why it cannot lose a wake-up.
package ring
