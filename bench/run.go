package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"runtime"
	"slices"
	"time"

	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
	"github.com/accelq/accelq/sim"
	"github.com/accelq/accelq/userdrv"
)

// Report is what a run measured and what follows from it.
type Report struct {
	Machine Machine   `json:"machine"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Rows    []Row     `json:"rows"`
	// Skipped names what the run could not measure and why: a mode the
	// machine lacks (AF_ALG on a kernel without it), an operation a profile
	// does not offer. Nothing asked for is dropped without a line here.
	Skipped []Skip  `json:"skipped,omitempty"`
	Answers Answers `json:"answers"`
	Modes   []Mode  `json:"modes"` // the modes the run was asked for
}

// Check lists what makes the report unsound: a mode asked for that has
// neither rows nor a reason it was skipped, a wrong output, a failed job, a
// job that ran in software. A sound report gives none.
func (rep *Report) Check() []string {
	var out []string
	rows := map[Mode]int{}
	for _, r := range rep.Rows {
		rows[r.Mode]++
		where := fmt.Sprintf("%s %s %s %s depth %d batch %d", r.Mode, r.Variant, r.Profile, r.Workload, r.Depth, r.Batch)
		if r.Miscompares > 0 {
			out = append(out, fmt.Sprintf("%s: %d of %d checked outputs wrong", where, r.Miscompares, r.Verified))
		}
		if r.Failed > 0 {
			out = append(out, fmt.Sprintf("%s: %d jobs failed", where, r.Failed))
		}
		if r.Fallbacks > 0 {
			out = append(out, fmt.Sprintf("%s: %d jobs ran in software", where, r.Fallbacks))
		}
	}
	for _, m := range rep.Modes {
		if rows[m] > 0 {
			continue
		}
		skipped := false
		for _, s := range rep.Skipped {
			skipped = skipped || (s.Mode == m && s.Reason != "")
		}
		if !skipped {
			out = append(out, fmt.Sprintf("mode %s: no rows and no reason", m))
		}
	}
	return out
}

// Skip is one thing a run did not measure.
type Skip struct {
	Mode    Mode   `json:"mode"`
	Profile string `json:"profile,omitempty"`
	What    string `json:"what,omitempty"` // a workload, or empty for the whole mode
	Reason  string `json:"reason"`
}

// cell is one measurement still to make.
type cell struct {
	label string
	run   func(ctx context.Context) ([]Row, error)
}

// Run measures every cell of cfg and derives the answers. A cell that fails
// ends the run with its error; what cannot be measured at all is listed in
// Report.Skipped.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	rep := &Report{Machine: DescribeMachine(), Started: time.Now(), Modes: cfg.Modes}
	load := startCPU(0)
	shapes, err := buildShapes(cfg, rep)
	if err != nil {
		return nil, err
	}
	var cells []cell
	has := func(m Mode) bool { return slices.Contains(cfg.Modes, m) }
	if has(ModeCPU) {
		cells = append(cells, cpuCells(shapes, cfg, rep)...)
	}
	if has(ModeAFALG) {
		cells = append(cells, afalgCells(shapes, cfg, rep)...)
	}
	var targets []*target
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	if has(ModeSync) || has(ModePipelined) || has(ModeIOUringNop) {
		targets, err = openTargets(cfg)
		if err != nil {
			return nil, err
		}
	}
	for _, t := range targets {
		if !t.nopOnly {
			cells = append(cells, deviceCells(t, shapes, cfg, rep)...)
		}
	}
	if has(ModeIOUringNop) {
		cells = append(cells, iouringCells(targets, cfg, rep)...)
	}
	if cfg.Anchors && cfg.Socket == "" && (has(ModeSync) || has(ModePipelined)) {
		anchors, extra, err := anchorCells(cfg)
		targets = append(targets, extra...) // closed by the deferred loop, also on error
		if err != nil {
			return nil, err
		}
		cells = append(cells, anchors...)
	}
	for i, c := range cells {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rows, err := measureMedian(ctx, c, cfg.Repeat)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.label, err)
		}
		rep.Rows = append(rep.Rows, rows...)
		if cfg.Progress != nil {
			cfg.Progress(i+1, len(cells), c.label)
		}
	}
	// A cell measured again adds its skips again.
	seen := map[Skip]bool{}
	rep.Skipped = slices.DeleteFunc(rep.Skipped, func(s Skip) bool {
		dup := seen[s]
		seen[s] = true
		return dup
	})
	w := load.stop()
	rep.Machine.Load = max(w.Others, 0)
	rep.Seconds = w.Wall.Seconds()
	finish(rep)
	return rep, nil
}

// loadedAttempts is how many times a cell is measured at most while other
// processes load the host.
const loadedAttempts = 3

// measure runs a cell; if other processes loaded the host meanwhile, it runs
// it again, up to loadedAttempts in all, and keeps the attempt on the least
// loaded host. The choice is by the load, which the cell does not cause,
// never by the rate, so a lucky fast attempt is not picked over a quiet one.
func measure(ctx context.Context, c cell) ([]Row, error) {
	var best []Row
	bestLoad := math.Inf(1)
	for attempt := 1; attempt <= loadedAttempts; attempt++ {
		rows, err := c.run(ctx)
		if err != nil {
			return nil, err
		}
		load := 0.0
		for _, r := range rows {
			load = max(load, r.Others)
		}
		if load < bestLoad {
			best, bestLoad = rows, load
			for i := range best {
				best[i].Attempts = attempt
			}
		}
		if bestLoad <= LoadedHost {
			break
		}
	}
	return best, nil
}

// measureMedian measures a cell repeat times (each as measure does) and
// keeps the run of median rate, as a benchmark reports the median of its
// runs: on a noisy host one slow or lucky run does not set the figure.
func measureMedian(ctx context.Context, c cell, repeat int) ([]Row, error) {
	if repeat <= 1 {
		return measure(ctx, c)
	}
	var runs [][]Row
	for range repeat {
		rows, err := measure(ctx, c)
		if err != nil {
			return nil, err
		}
		if len(rows) > 0 {
			runs = append(runs, rows)
		}
	}
	if len(runs) == 0 {
		return nil, nil
	}
	// The rate that matters is the last row's: the cell's own, after any
	// baseline it carries (iouring-nop's io_uring row comes first).
	slices.SortFunc(runs, func(a, b []Row) int { return cmp.Compare(a[len(a)-1].OpsPerSec, b[len(b)-1].OpsPerSec) })
	med := runs[len(runs)/2]
	for i := range med {
		med[i].Runs = len(runs)
	}
	return med, nil
}

// buildShapes makes the jobs of every workload once, for all modes and
// targets; a workload with no valid job is skipped with its reason.
func buildShapes(cfg Config, rep *Report) ([]*shape, error) {
	var out []*shape
	for _, w := range cfg.Workloads {
		s, err := newShape(w)
		if errors.Is(err, ErrNoShape) {
			rep.Skipped = append(rep.Skipped, Skip{What: w.String(), Reason: err.Error()})
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// target is a device the device modes run against: an embedded simulated
// device of a profile, or the acceld behind a socket.
type target struct {
	name    string // "embedded" or "acceld"
	profile string
	timing  string // "timing-only" or "functional"
	dev     *userdrv.Device
	model   *sim.Model // nil where no model applies (host speed, an unknown profile)
	daemon  int        // acceld's pid, for the CPU accounting
	nopOnly bool       // opened for the io_uring comparison alone
	keys    map[*shape]*userdrv.Key
}

func (t *target) close() {
	for _, k := range t.keys {
		k.Destroy()
	}
	t.dev.Close()
}

// openTargets opens the devices the device modes need: per profile a
// timing-only and a functional one, as configured, or the daemon.
func openTargets(cfg Config) ([]*target, error) {
	var out []*target
	fail := func(err error) ([]*target, error) {
		for _, t := range out {
			t.close()
		}
		return nil, err
	}
	if cfg.Socket != "" {
		dev, err := userdrv.Open(userdrv.WithSocket(cfg.Socket))
		if err != nil {
			return fail(err)
		}
		info := dev.Info().Device
		t := &target{name: "acceld", profile: info.Profile, timing: "functional", dev: dev,
			daemon: daemonPID(cfg.Socket), keys: map[*shape]*userdrv.Key{}}
		if info.TimingOnly {
			t.timing = "timing-only"
		}
		if p, err := sim.LoadProfile(info.Profile); err == nil && !p.HostSpeed {
			t.model = sim.NewModel(p)
		}
		return append(out, t), nil
	}
	device := slices.Contains(cfg.Modes, ModeSync) || slices.Contains(cfg.Modes, ModePipelined)
	for _, name := range cfg.Profiles {
		p, err := sim.LoadProfile(name)
		if err != nil {
			return fail(err)
		}
		var model *sim.Model
		if !p.HostSpeed {
			model = sim.NewModel(p)
		}
		kinds := []bool{}
		if cfg.TimingOnly {
			kinds = append(kinds, true)
		}
		if cfg.Functional {
			kinds = append(kinds, false)
		}
		for _, timingOnly := range kinds {
			if !device {
				break
			}
			t, err := openEmbedded(name, timingOnly, model)
			if err != nil {
				return fail(err)
			}
			out = append(out, t)
		}
	}
	if slices.Contains(cfg.Modes, ModeIOUringNop) {
		// The null job on the host-speed profile: nothing modelled to wait
		// for, so the rate is the framework's alone, as io_uring's NOP is the
		// kernel's alone.
		t, err := openEmbedded("ideal", true, nil)
		if err != nil {
			return fail(err)
		}
		t.nopOnly = true
		out = append(out, t)
	}
	return out, nil
}

func openEmbedded(profile string, timingOnly bool, model *sim.Model) (*target, error) {
	opts := []userdrv.Option{userdrv.WithEmbedded(profile)}
	timing := "functional"
	if timingOnly {
		opts = append(opts, userdrv.WithSimOptions(sim.WithTimingOnly()))
		timing = "timing-only"
	}
	dev, err := userdrv.Open(opts...)
	if err != nil {
		return nil, err
	}
	return &target{name: "embedded", profile: profile, timing: timing, dev: dev, model: model,
		keys: map[*shape]*userdrv.Key{}}, nil
}

// daemonPID asks the kernel which process serves the socket, so that its CPU
// counts as the device's and not as another process loading the host.
func daemonPID(path string) int {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return 0
	}
	defer c.Close()
	cred, err := unix.PeerCred(c)
	if err != nil {
		return 0
	}
	return int(cred.PID)
}

// key imports the shape's key on the target once.
func (t *target) key(s *shape) (*userdrv.Key, error) {
	if s.key == nil {
		return nil, nil
	}
	if k, ok := t.keys[s]; ok {
		return k, nil
	}
	k, err := t.dev.ImportKey(s.keyKind, s.key)
	if err != nil {
		return nil, fmt.Errorf("importing the %v key: %w", s.keyKind, err)
	}
	t.keys[s] = k
	return k, nil
}

// deviceCells lists the sync and pipelined cells of one target.
func deviceCells(t *target, shapes []*shape, cfg Config, rep *Report) []cell {
	var cells []cell
	functional := t.timing == "functional"
	for _, s := range shapes {
		if !t.dev.Supports(s.w.Op) {
			for _, m := range []Mode{ModeSync, ModePipelined} {
				if slices.Contains(cfg.Modes, m) {
					rep.Skipped = append(rep.Skipped, Skip{Mode: m, Profile: t.profile, What: s.w.String(),
						Reason: fmt.Sprintf("%s does not offer %v", t.profile, s.w.Op)})
				}
			}
			continue
		}
		for _, buf := range cfg.Buffers {
			add := func(spec runSpec) {
				spec.t, spec.s, spec.buffers = t, s, buf
				cells = append(cells, cell{label: spec.label(), run: spec.run})
			}
			if slices.Contains(cfg.Modes, ModeSync) && (buf == ZeroCopy) {
				add(runSpec{mode: ModeSync, variant: VariantPoll, depth: 1, batch: 1, clients: cfg.Clients, timing: cfg.Timing})
				if !functional {
					add(runSpec{mode: ModeSync, variant: VariantSleep, depth: 1, batch: 1, clients: cfg.Clients, timing: cfg.Timing})
				}
			}
			if !slices.Contains(cfg.Modes, ModePipelined) {
				continue
			}
			depths := cfg.Depths
			switch {
			case functional:
				depths = []int{cfg.FunctionalDepth}
			case buf == Copy:
				depths = cfg.CopyDepths
			}
			for _, d := range depths {
				if max := t.dev.Info().Device.MaxDepth; max > 0 && d > max {
					rep.Skipped = append(rep.Skipped, Skip{Mode: ModePipelined, Profile: t.profile,
						What: fmt.Sprintf("%v depth %d", s.w, d), Reason: fmt.Sprintf("%s queues hold at most %d jobs", t.profile, max)})
					continue
				}
				for _, b := range cfg.Batches {
					if b > d || ((functional || buf == Copy) && b != 1) {
						continue
					}
					add(runSpec{mode: ModePipelined, depth: d, batch: b, clients: 1, timing: cfg.Timing})
				}
			}
		}
	}
	return cells
}

// Published anchors: the profiles calibrated to them, and the depth of the
// asynchronous figure (openssl speed -async_jobs 72).
var (
	anchorProfiles = []string{"qat-gen2", "kunpeng920"}
	anchorWorkload = Workload{Op: ring.OpRSASignPKCS1v15, Size: 2048}
)

// AnchorDepth is the queue depth of the published asynchronous figures.
const AnchorDepth = 72

// VariantAnchor marks the pipelined rows of the anchors, at AnchorDepth.
const VariantAnchor = "anchor"

// anchorCells lists the anchors' cells and opens their devices.
func anchorCells(cfg Config) ([]cell, []*target, error) {
	s, err := newShape(anchorWorkload)
	if err != nil {
		return nil, nil, err
	}
	var cells []cell
	var targets []*target
	for _, name := range anchorProfiles {
		p, err := sim.LoadProfile(name)
		if err != nil {
			return nil, targets, err
		}
		t, err := openEmbedded(name, true, sim.NewModel(p))
		if err != nil {
			return nil, targets, err
		}
		targets = append(targets, t)
		for _, spec := range []runSpec{
			{mode: ModeSync, variant: VariantPoll, depth: 1, batch: 1, clients: 1},
			{mode: ModePipelined, variant: VariantAnchor, depth: AnchorDepth, batch: 1, clients: 1},
		} {
			spec.t, spec.s, spec.buffers, spec.timing = t, s, ZeroCopy, cfg.Timing
			cells = append(cells, cell{label: spec.label(), run: spec.run})
		}
	}
	return cells, targets, nil
}

// cpuCells lists the software cells: each workload on one core and on all.
func cpuCells(shapes []*shape, cfg Config, rep *Report) []cell {
	var cells []cell
	for _, s := range shapes {
		if s.w.Op == ring.OpNop {
			rep.Skipped = append(rep.Skipped, Skip{Mode: ModeCPU, What: s.w.String(), Reason: "a null job has no software equivalent"})
			continue
		}
		counts := []int{1}
		if n := runtime.GOMAXPROCS(0); n > 1 {
			counts = append(counts, n)
		}
		for _, n := range counts {
			variant := VariantOneCore
			if n > 1 {
				variant = VariantAllCores
			}
			cells = append(cells, cell{label: fmt.Sprintf("cpu %s %v", variant, s.w), run: func(ctx context.Context) ([]Row, error) {
				r, err := runCPU(ctx, s, n, cfg.Timing)
				if err != nil {
					return nil, err
				}
				r.Variant = variant
				return []Row{r}, nil
			}})
		}
	}
	return cells
}
