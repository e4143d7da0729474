package bench

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/accelq/accelq/ring"
	"github.com/accelq/accelq/sim"
	"github.com/accelq/accelq/userdrv"
)

// Buffer modes, in Config.Buffers and Row.Buffers.
const (
	ZeroCopy = "zero-copy" // the device works in place on the client's registered memory
	Copy     = "copy"      // the device copies inputs in and outputs back (userdrv.WithCopyMode)
)

// Config is what a run measures. The zero value of a field takes the
// default's (DefaultConfig), so a Config that names only its workloads is
// complete.
type Config struct {
	Modes     []Mode     // which modes; default all
	Workloads []Workload // what jobs
	Profiles  []string   // simulated device profiles, embedded; ignored with Socket
	// Socket runs the device modes against the acceld serving this socket
	// instead of embedded devices: the daemon's profile and its timing-only
	// setting then decide what the rows measure.
	Socket string
	// Depths and Batches are the pipelined mode's grid: every depth with
	// every batch no larger than it. Depths are powers of two.
	Depths  []int
	Batches []int
	// Clients is the sync mode's number of client goroutines, each with one
	// job in flight on a queue of its own.
	Clients int
	// Buffers are the buffer modes of the device rows; the copy mode runs
	// only at CopyDepths, since it costs the same data movement at every
	// depth.
	Buffers    []string
	CopyDepths []int
	// TimingOnly runs the device rows on timing-only devices: the modelled
	// hardware's rates, nothing computed. Functional runs compute real
	// results on a sample of cells (the sync mode and pipelined at
	// FunctionalDepth) and verify every one of them.
	TimingOnly      bool
	Functional      bool
	FunctionalDepth int
	IOUringBatches  []int // batch sizes of the iouring-nop mode
	// Anchors adds the published anchors' cells: RSA-2048 signatures on the
	// profiles calibrated to them (qat-gen2, kunpeng920), synchronous and
	// with AnchorDepth in flight, timing-only, so that the report sets
	// measured beside published. Embedded runs only.
	Anchors bool
	// Repeat measures every cell this many times and keeps the run of
	// median rate; 0 or 1 measures once.
	Repeat int
	Timing Timing
	// Progress, if set, is called after each cell with the number of cells
	// done and in all.
	Progress func(done, total int, cell string)
}

// DefaultConfig is the main job: a representative matrix on the embedded
// default profile that runs in under two minutes on two cores. It covers one
// operation of each kind that the offload question turns on (a cheap AEAD, a
// hash, a compressor, two signatures), sizes from a TLS record's header to a
// large block, every depth the pipelined mode offers at batch 1 and the
// larger batches at depths that can fill them.
func DefaultConfig() Config {
	var ws []Workload
	for _, o := range []ring.Opcode{ring.OpAESGCMSeal, ring.OpSHA256, ring.OpZstdCompress} {
		for _, n := range []int{64, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 1 << 20} {
			ws = append(ws, Workload{o, n})
		}
	}
	ws = append(ws, Workload{ring.OpRSASignPKCS1v15, 2048}, Workload{ring.OpECDSASign, 256})
	return Config{
		Modes:           Modes(),
		Workloads:       ws,
		Profiles:        []string{userdrv.DefaultProfile},
		Depths:          []int{1, 2, 4, 8, 16, 32, 64, 128, 256},
		Batches:         []int{1, 8, 32},
		Clients:         1,
		Buffers:         []string{ZeroCopy, Copy},
		CopyDepths:      []int{1, 64},
		TimingOnly:      true,
		Functional:      true,
		FunctionalDepth: 16,
		IOUringBatches:  []int{1, 8, 32},
		Anchors:         true,
		Timing:          DefaultTiming,
	}
}

// withDefaults fills the zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Modes == nil {
		c.Modes = d.Modes
	}
	if c.Workloads == nil {
		c.Workloads = d.Workloads
	}
	if c.Profiles == nil {
		c.Profiles = d.Profiles
	}
	if c.Depths == nil {
		c.Depths = d.Depths
	}
	if c.Batches == nil {
		c.Batches = d.Batches
	}
	if c.Clients == 0 {
		c.Clients = d.Clients
	}
	if c.Buffers == nil {
		c.Buffers = d.Buffers
	}
	if c.CopyDepths == nil {
		c.CopyDepths = d.CopyDepths
	}
	if !c.TimingOnly && !c.Functional {
		c.TimingOnly, c.Functional = d.TimingOnly, d.Functional
	}
	if c.FunctionalDepth == 0 {
		c.FunctionalDepth = d.FunctionalDepth
	}
	if c.IOUringBatches == nil {
		c.IOUringBatches = d.IOUringBatches
	}
	if c.Timing == (Timing{}) {
		c.Timing = d.Timing
	}
	return c
}

// MaxDepth is the deepest queue the pipelined mode runs.
const MaxDepth = 256

// Validate reports the first thing wrong with the configuration, in words a
// command can print as they are.
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, m := range c.Modes {
		if !slices.Contains(Modes(), m) {
			return fmt.Errorf("unknown mode %q (modes: cpu, sync, pipelined, afalg, iouring-nop)", m)
		}
	}
	for _, w := range c.Workloads {
		if !w.Op.Valid() {
			return fmt.Errorf("unknown operation %v", w.Op)
		}
		switch w.Class() {
		case ring.ClassAsymmetric:
			if w.Size < 1 {
				return fmt.Errorf("%v: key size %d bits", w.Op, w.Size)
			}
		case ring.ClassNone:
		default:
			if w.Size < 1 || w.Size > 1<<30 {
				return fmt.Errorf("%v: size %d bytes, want 1 to 1GiB", w.Op, w.Size)
			}
		}
	}
	if c.Socket == "" {
		for _, p := range c.Profiles {
			if !slices.Contains(sim.Profiles(), p) {
				return fmt.Errorf("unknown profile %q (profiles: %v)", p, sim.Profiles())
			}
		}
	}
	check := func(what string, ns []int, pow2 bool, limit int) error {
		for _, n := range ns {
			if n < 1 || n > limit || (pow2 && bits.OnesCount(uint(n)) != 1) {
				if pow2 {
					return fmt.Errorf("%s %d: want a power of two from 1 to %d", what, n, limit)
				}
				return fmt.Errorf("%s %d: want 1 to %d", what, n, limit)
			}
		}
		return nil
	}
	for _, err := range []error{
		check("depth", c.Depths, true, MaxDepth),
		check("copy depth", c.CopyDepths, true, MaxDepth),
		check("functional depth", []int{c.FunctionalDepth}, true, MaxDepth),
		check("batch", c.Batches, false, MaxDepth),
		check("io_uring batch", c.IOUringBatches, false, MaxDepth),
		check("clients", []int{c.Clients}, false, 1024),
		check("repeat", []int{max(c.Repeat, 1)}, false, 100),
	} {
		if err != nil {
			return err
		}
	}
	if slices.Contains(c.Modes, ModePipelined) && slices.Min(c.Batches) > slices.Max(c.Depths) {
		return fmt.Errorf("batch %d: larger than every depth (the largest is %d)", slices.Min(c.Batches), slices.Max(c.Depths))
	}
	for _, b := range c.Buffers {
		if b != ZeroCopy && b != Copy {
			return fmt.Errorf("unknown buffer mode %q (want zero-copy or copy)", b)
		}
	}
	t := c.Timing
	if t.Window <= 0 || t.MaxWindow < t.Window || t.Warmup < 0 || t.MinJobs < 0 {
		return errors.New("timing: want a positive window no longer than the maximum")
	}
	return nil
}
