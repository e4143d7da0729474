// Package driver is accelq's isolation layer: the part a kernel driver plays
// between clients and an accelerator. It does the minimum needed to keep clients
// apart and hand them rings, and nothing else.
//
// # Model
//
// A [Driver] wraps one [device.Device] and a [Policy]. Each client gets a
// [Context], opened with the client's credentials ([Cred]: uid, gid and pid, as
// SO_PEERCRED reports them for a remote client). A context owns four kinds of
// object, each named by a 32-bit handle that is valid only in that context:
//
//   - Memory regions. The client creates a memfd, seals it against shrinking
//     (F_SEAL_SHRINK) and registers it, read-only or read-write. The driver checks
//     the seal with F_GET_SEALS (unsealed memory is refused: a client could
//     otherwise truncate it and make the device fault), keeps its own duplicate of
//     the descriptor, and maps it shared. Buffer references in SQEs name
//     (region handle, offset, length) triples in these regions, like an lkey and
//     an SGE in verbs.
//   - Key slots. Key material is imported once over the control path, parsed by
//     [device.ParseKey], and referenced by handle in SQEs. No API returns key
//     material; a key is zeroed when its slot is destroyed and the last job using
//     it has completed.
//   - Queue pairs. The driver allocates each ring (SQ and CQ) in its own sealed
//     memfd, initialises both headers and hands them to the device together with
//     the context's address space. The memfds can be passed to a remote client;
//     an embedded client uses the mapped bytes directly.
//   - The address space itself, which the device sees as a [device.AddressSpace]:
//     the table that maps region handles to memory with access rights (accelq's
//     IOMMU), the key slots, and the context's operation allowlist. The device
//     resolves every buffer reference and key handle through the address space of
//     the queue it fetched from and through nothing else, so a descriptor naming
//     another context's region or key simply does not translate: it completes with
//     [ring.StatusBadAddress] or [ring.StatusNotPermitted] and touches nothing.
//
// Translation is overflow-safe (offset <= size and length <= size - offset, in
// 64 bits), refuses writes to read-only regions, and returns slices whose
// capacity equals their length, so a device cannot reach past the range it was
// given. The translation tables are copy-on-write behind atomic pointers: the
// device's hot path takes no lock and allocates nothing, while the control path
// registers and unregisters concurrently.
//
// # Lifetime
//
// Memory from mmap is invisible to the garbage collector, so unmapping a region
// while a job still uses it would be a use-after-free. Every successful
// translation pins the region (a reference count; the region itself is the
// [device.Pin]) and the device unpins it before posting the job's CQE, so a
// client that has seen a completion can unregister its buffers at once. Unregistering
// removes the region from the table at once, so new translations fail, and drops
// the registration's own reference; the mapping is unmapped and the driver's
// descriptor closed only when the last pin is released. Key slots work the same
// way: a destroyed key is zeroed ([device.Key.Destroy]) after its last pin.
// Registered bytes and keys count against the context's quota until they are
// actually released.
//
// Closing a context destroys its queues first (the device stops fetching, flushes
// jobs not yet started and waits for jobs computing, see [device.Queue.Destroy]),
// then unregisters all its memory and destroys all its keys. Close returns with
// nothing of the context left mapped or open, except regions and keys still
// pinned by someone other than the context's own queues, which are released at
// their last unpin.
//
// # Policy and quotas
//
// A [Policy], usually read from a JSON file with [ParsePolicy], gives each client
// a [Rule]: an allowlist of operations (what is not listed is refused, "*" allows
// everything), limits on contexts per uid, queues, registered bytes, keys and
// in-flight jobs per context (over all its queues), and a weight: the
// context's share of each engine class against other contexts, and the
// largest weight a queue may ask for within it. Rules are chosen by uid, then by gid, then the default. A request beyond a
// limit fails with a [*QuotaError] that names the limit; errors.Is(err, ErrQuota)
// reports any of them.
//
// # Remote clients
//
// The same driver serves other processes through a [Server] on a Unix
// SOCK_SEQPACKET socket (the acceld daemon). Each connection is one context,
// opened with the peer's SO_PEERCRED credentials; its requests are the Context
// methods as binary messages (docs/uapi.md), with memfds and eventfds passed by
// SCM_RIGHTS. A [Conn] is the client side: it registers memory, imports keys and
// creates queues, and maps the rings the daemon returns. The socket carries
// setup and teardown only; jobs go through the shared rings exactly as for an
// embedded client. Every message a client sends is hostile until validated: a
// malformed one gets an error reply, descriptors nobody asked for are closed, and
// a client that keeps sending garbage is disconnected.
//
// # Fork
//
// Every mapping the driver makes (rings and registered regions) is made with
// MADV_DONTFORK by internal/unix, and every descriptor it holds is close-on-exec.
// A child forked from a process that embeds the driver therefore has nothing
// mapped at those addresses (touching a ring or buffer address faults rather than
// silently sharing the parent's queues, the choice verbs makes with
// ibv_fork_init), and an exec'd child inherits none of the memfds. A remote
// client's own mappings of its rings are its business: the client library should
// map them the same way (package userdrv does). The tests check the VmFlags "dc"
// (do not copy on fork) bit of every driver mapping in /proc/self/smaps, and
// fork a child that finds nothing mapped at the addresses of its parent's rings
// and regions.
//
// # Concurrency
//
// A [Driver] and its [Context]s are safe for concurrent use. Control operations
// on one context are serialised; translation is lock-free.
package driver
