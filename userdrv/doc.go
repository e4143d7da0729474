// Package userdrv is accelq's client library: what an application imports to
// run crypto and compression on an accelerator through shared rings.
//
// # Model
//
// [Open] gives a [Device]: a driver context, either in this process around a
// simulated device or in the acceld daemon reached over a Unix socket (the
// socket path from [WithSocket] or $ACCELQ_SOCKET). The API is the same either
// way; only setup and teardown cross the socket.
//
// Jobs name memory by registered [Buffer]s, which [Device.Alloc] carves from
// sealed memfd slabs registered with the driver once, so a job needs no copy and
// no system call. A [Queue] is a queue pair with a reaper goroutine: [Queue.Submit]
// writes an SQE and returns at once; the reaper reaps CQEs and completes each
// [Job] by its callback or by waking [Job.Wait]. A buffer stays in use until its
// job completes; [Buffer.Free] before then returns it to the pool only after.
//
// A goroutine that waits for a job ([Job.Wait], a typed call, a face) reaps
// the completion ring itself before it sleeps, for the queue's spin time
// ([WithSpin], default [DefaultSpin]), as liburing's wait looks at the ring
// before it enters the kernel: a synchronous job that completes within that
// time costs no wake-up and no hop through the reaper, and completions of other
// jobs it meets are delivered on its way. Past the spin time it sleeps and the
// reaper goroutine delivers. Nothing on the data path sleeps in a system call
// that holds the Go scheduler's P: an embedded device wakes its clients
// through channels, so the device's goroutines and the client's share two
// cores without waiting for sysmon.
//
// When the device cannot run a job (it does not offer the operation, the ring is
// full, the device failed it) a queue with [FallbackAuto] runs it in software
// with the same code the simulated device runs, flags it with
// ring.CQEFallback and counts it in [QueueStats]. [DeviceOnly] and
// [SoftwareOnly] are the two pure modes the benchmark compares.
//
// The typed methods ([Queue.Seal], [Queue.Sign], [Queue.Compress], ...) take plain
// byte slices and copy them through pooled registered buffers, for callers who do
// not manage buffers. The Go-native faces, [NewAEAD] (a cipher.AEAD) and
// [NewSigner] (a crypto.Signer for crypto/tls), build on the same copy path; the
// streaming [Writer] and [Reader] on [Pipeline].
package userdrv
