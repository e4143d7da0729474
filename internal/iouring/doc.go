// Package iouring drives the kernel's io_uring with NOP requests, to measure
// the cheapest asynchronous round trip Linux itself offers.
//
// accelq's rings are modelled on io_uring: a client fills a submission ring,
// rings a doorbell and reaps a completion ring. A NOP on io_uring does no work
// at all, so its rate is the cost of the ring protocol plus one io_uring_enter
// system call per batch. accelq's null job is the same measurement on accelq's
// own rings; running both in one benchmark run, on one machine, says whether
// accelq's protocol costs more or less than the kernel's, independent of any
// operation either of them performs.
//
// The package speaks the io_uring ABI directly through golang.org/x/sys/unix,
// without liburing or cgo, and implements only what a NOP needs: one ring,
// submissions and completions from one goroutine at a time, no SQPOLL thread,
// no registered files or buffers.
//
// Kernels or sandboxes that refuse io_uring (kernel.io_uring_disabled, seccomp
// filters in containers, kernels built without it) make New return an error
// wrapping ErrUnavailable, so a benchmark can skip with the reason instead of
// failing.
package iouring
