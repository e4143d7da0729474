package bench

import (
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Mode is how a row's jobs were run.
type Mode string

// The modes a run can measure.
const (
	ModeCPU        Mode = "cpu"         // inline in the calling goroutine, in software
	ModeSync       Mode = "sync"        // one job in flight per client, waiting for each: the AF_ALG model
	ModePipelined  Mode = "pipelined"   // depth jobs in flight, submitted batch at a time
	ModeAFALG      Mode = "afalg"       // the kernel's AF_ALG sockets, one system call pair per job
	ModeIOUringNop Mode = "iouring-nop" // the kernel's io_uring doing NOPs, beside accelq's null job
)

// Modes lists every mode, in the order a report shows them.
func Modes() []Mode { return []Mode{ModeCPU, ModeSync, ModePipelined, ModeAFALG, ModeIOUringNop} }

// Variants of a mode, in Row.Variant.
const (
	VariantOneCore  = "1-core"    // cpu: one goroutine
	VariantAllCores = "all-cores" // cpu: one goroutine per core
	VariantPoll     = "poll"      // sync: the default queue, whose waiter polls before it sleeps
	VariantSleep    = "sleep"     // sync: a ReapInterrupt queue, whose waiter sleeps at once
	VariantIOUring  = "io_uring"  // iouring-nop: the kernel's ring
	VariantAccelq   = "accelq"    // iouring-nop: accelq's null job through the client library
)

// Row is one measured cell.
type Row struct {
	Mode     Mode   `json:"mode"`
	Variant  string `json:"variant,omitempty"`
	Profile  string `json:"profile,omitempty"` // the device profile; empty for cpu, afalg and io_uring
	Target   string `json:"target,omitempty"`  // "embedded" or "acceld"
	Timing   string `json:"timing,omitempty"`  // "timing-only" (the model's time, nothing computed) or "functional"
	Buffers  string `json:"buffers,omitempty"` // "zero-copy" or "copy"
	Workload string `json:"workload"`          // op/size, as Workload.String
	Op       string `json:"op"`
	Class    string `json:"class"`
	Size     int    `json:"size"` // payload bytes, or key bits for asymmetric operations
	Depth    int    `json:"depth"`
	Batch    int    `json:"batch"`
	Clients  int    `json:"clients"` // goroutines submitting

	Jobs      int64   `json:"jobs"`    // completed in the window
	Seconds   float64 `json:"seconds"` // the window
	OpsPerSec float64 `json:"ops_per_s"`
	GBPerSec  float64 `json:"gb_per_s"` // payload, decimal gigabytes
	Latency   Latency `json:"latency_us"`
	// CPUPerOp is the process's CPU time per job, in microseconds: the
	// submitting process only. Embedded, that process also runs the simulated
	// device; against acceld it is the client alone.
	CPUPerOp float64 `json:"cpu_us_per_op"`
	// Speedup is OpsPerSec over the baseline's: cpu on one core for the same
	// workload; for the accelq row of iouring-nop, io_uring at the same batch.
	Speedup   float64 `json:"speedup,omitempty"`
	Doorbells uint64  `json:"doorbells"` // doorbells rung in the window
	Wakeups   uint64  `json:"wakeups"`   // client sleeps in the window, each ended by a wake-up
	Retries   uint64  `json:"queue_full_retries"`
	Fallbacks uint64  `json:"fallbacks"`       // jobs that ran in software instead (must be 0)
	Ratio     float64 `json:"ratio,omitempty"` // compression: input over output bytes

	Verified    int64 `json:"verified"`    // outputs checked against software
	Miscompares int64 `json:"miscompares"` // outputs that were wrong (must be 0)
	Failed      int64 `json:"failed"`      // jobs completed with an error (must be 0)

	// ModelOpsPerSec is what the profile's timing model predicts for the
	// cell's loop, the same depth refilled the same batch at a time
	// (sim.Model.ClosedLoop); Fidelity is OpsPerSec over it. Both 0 where no
	// model applies (cpu, the ideal profile).
	ModelOpsPerSec float64 `json:"model_ops_per_s,omitempty"`
	Fidelity       float64 `json:"fidelity,omitempty"`
	// HostLimited counts the completions the device posted later than the
	// model allowed, because the host computed slower or its front end fell
	// behind.
	HostLimited uint64 `json:"host_limited"`
	// Others is the CPU other processes used during the window, in cores
	// (steal time included: a hypervisor's other guests load the host too).
	Others float64 `json:"others_cores"`
	// Attempts is which measurement of the cell this is: a cell measured on
	// a loaded host is measured again, and the least loaded attempt kept.
	Attempts int `json:"attempts"`
	// Runs is how many runs of the cell the row is the median of (Config.Repeat).
	Runs     int      `json:"runs,omitempty"`
	Warnings []string `json:"warnings,omitempty"`

	bytes int // payload bytes per job, for GBPerSec
}

// baseRow is a row's workload columns.
func baseRow(s *shape) Row {
	return Row{Workload: s.w.String(), Op: s.w.Op.String(), Class: s.w.Class().String(), Size: s.w.Size, bytes: s.payload}
}

func (r *Row) payload() int { return r.bytes }

// JobsPerDoorbell is jobs over doorbells; 0 when no doorbell was rung.
func (r *Row) JobsPerDoorbell() float64 { return ratio(r.Jobs, r.Doorbells) }

// JobsPerWakeup is jobs over wake-ups; 0 when the client never slept.
func (r *Row) JobsPerWakeup() float64 { return ratio(r.Jobs, r.Wakeups) }

func ratio(jobs int64, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return float64(jobs) / float64(n)
}

// Latency summarises a row's per-job latencies, in microseconds: from the
// job's submission (or, in cpu mode, its start) to its completion reaching
// the client.
type Latency struct {
	Min  float64 `json:"min"`
	Avg  float64 `json:"avg"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// histogram records latencies in nanoseconds, from 1 ns to a minute at three
// significant digits.
type histogram struct{ h *hdr.Histogram }

func newHistogram() histogram { return histogram{hdr.New(1, int64(time.Minute), 3)} }

func (h histogram) record(d time.Duration) { h.h.RecordValue(max(int64(d), 1)) }

func (h histogram) merge(o histogram) { h.h.Merge(o.h) }

func (h histogram) count() int64 { return h.h.TotalCount() }

// summary is the histogram as the row reports it.
func (h histogram) summary() Latency {
	if h.h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Latency{
		Min: us(h.h.Min()), Avg: h.h.Mean() / 1e3, P50: us(h.h.ValueAtQuantile(50)),
		P90: us(h.h.ValueAtQuantile(90)), P99: us(h.h.ValueAtQuantile(99)),
		P999: us(h.h.ValueAtQuantile(99.9)), Max: us(h.h.Max()),
	}
}
