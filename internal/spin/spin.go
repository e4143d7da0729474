// Package spin holds the CPU's spin-wait hint, for accelq's polling loops.
//
// A loop that polls shared memory for another core's write runs at full
// speed doing nothing, and on a host whose two vCPUs are hyperthreads of one
// core it takes the execution units the other thread (a device worker
// computing, the producer it waits for) needs. The hint (PAUSE on x86, YIELD
// on arm64) slows the poll to the pace of the memory it watches and gives the
// sibling thread the core meanwhile. The Go runtime spins the same way
// (procyield) but does not export it.
package spin

// Pause executes the spin-wait hint n times.
func Pause(n int) { pause(n) }
