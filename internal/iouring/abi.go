package iouring

// The io_uring ABI from the kernel's include/uapi/linux/io_uring.h, limited to
// what NOPs need. The structs mirror the kernel's byte for byte: io_uring_setup
// copies params in and out, and the kernel reads SQEs and writes CQEs in the
// shared mappings at these exact offsets. abi_test.go pins their sizes.

// Offsets passed to mmap(2) on the ring file descriptor to select which of the
// kernel's regions to map.
const (
	offSQRing = 0          // IORING_OFF_SQ_RING: SQ ring indices, flags and index array
	offCQRing = 0x8000000  // IORING_OFF_CQ_RING: CQ ring indices and CQE array
	offSQEs   = 0x10000000 // IORING_OFF_SQES: the SQE array
)

const (
	// featSingleMmap (IORING_FEAT_SINGLE_MMAP, Linux 5.4) means the SQ and CQ
	// rings share one mapping, so the CQ ring must not be mapped separately.
	featSingleMmap = 1 << 0

	// enterGetEvents (IORING_ENTER_GETEVENTS) makes io_uring_enter wait for
	// min_complete completions after submitting: submission and reaping in one
	// system call.
	enterGetEvents = 1 << 0

	// opNop (IORING_OP_NOP) completes with res 0 and does nothing else.
	opNop = 0

	// maxEntries is the kernel's IORING_MAX_ENTRIES: larger SQ sizes are
	// refused with EINVAL unless IORING_SETUP_CLAMP is set.
	maxEntries = 32768
)

// sqringOffsets is struct io_sqring_offsets: where, inside the SQ ring mapping,
// the kernel put each field. The kernel chooses the layout, so the offsets are
// read at setup rather than assumed.
type sqringOffsets struct {
	head        uint32 // consumer index, advanced by the kernel as it takes SQEs
	tail        uint32 // producer index, advanced by us to publish SQEs
	ringMask    uint32 // entries-1: an index masked with it is a slot
	ringEntries uint32 // number of slots, a power of two
	flags       uint32 // IORING_SQ_* flags set by the kernel (NEED_WAKEUP, CQ_OVERFLOW)
	dropped     uint32 // count of SQEs the kernel skipped for a bad index
	array       uint32 // the index array: slot i names which SQE to submit
	resv1       uint32 // reserved
	userAddr    uint64 // ring memory supplied by the user with IORING_SETUP_NO_MMAP
}

// cqringOffsets is struct io_cqring_offsets: where, inside the CQ ring mapping,
// the kernel put each field.
type cqringOffsets struct {
	head        uint32 // consumer index, advanced by us as we reap CQEs
	tail        uint32 // producer index, advanced by the kernel as it posts CQEs
	ringMask    uint32 // entries-1
	ringEntries uint32 // number of CQEs, a power of two
	overflow    uint32 // count of completions lost to a full CQ ring
	cqes        uint32 // the CQE array
	flags       uint32 // IORING_CQ_* flags set by us (EVENTFD_DISABLED)
	resv1       uint32 // reserved
	userAddr    uint64 // ring memory supplied by the user with IORING_SETUP_NO_MMAP
}

// params is struct io_uring_params, 120 bytes: our requests to io_uring_setup
// going in, the kernel's sizes, features and ring layout coming back.
type params struct {
	sqEntries    uint32        // in: requested SQ size; out: granted, rounded up to a power of two
	cqEntries    uint32        // in with IORING_SETUP_CQSIZE; out: granted CQ size (twice sqEntries by default)
	flags        uint32        // in: IORING_SETUP_* flags
	sqThreadCPU  uint32        // in: CPU of the SQPOLL thread with IORING_SETUP_SQ_AFF
	sqThreadIdle uint32        // in: SQPOLL thread idle time, milliseconds
	features     uint32        // out: IORING_FEAT_* flags this kernel supports
	wqFd         uint32        // in: ring whose async workers to share with IORING_SETUP_ATTACH_WQ
	resv         [3]uint32     // reserved, must be zero
	sqOff        sqringOffsets // out: SQ ring layout
	cqOff        cqringOffsets // out: CQ ring layout
}

// sqe is struct io_uring_sqe, 64 bytes. The kernel's unions are flattened to
// their first member; a NOP uses only opcode and userData and needs the rest
// zero.
type sqe struct {
	opcode      uint8     // IORING_OP_*
	flags       uint8     // IOSQE_* flags (link, drain, fixed file, ...)
	ioprio      uint16    // I/O priority
	fd          int32     // file the operation acts on
	off         uint64    // file offset, or addr2
	addr        uint64    // buffer or iovec address, or splice_off_in
	len         uint32    // buffer length or iovec count
	opFlags     uint32    // per-opcode flags: rw_flags, fsync_flags, nop_flags, ...
	userData    uint64    // returned untouched in the CQE: how a completion finds its request
	bufIndex    uint16    // fixed buffer index, or buffer group
	personality uint16    // registered credentials to run with
	spliceFdIn  int32     // splice source, or file_index for direct descriptors
	addr3       uint64    // third address for the few opcodes that need one
	pad2        [1]uint64 // reserved; the start of cmd[] with IORING_SETUP_SQE128
}

// cqe is struct io_uring_cqe, 16 bytes (no IORING_SETUP_CQE32).
type cqe struct {
	userData uint64 // the SQE's userData
	res      int32  // result: 0 or more on success, a negated errno on failure
	flags    uint32 // IORING_CQE_F_* flags (buffer id, more, ...)
}
