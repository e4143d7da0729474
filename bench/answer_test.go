package bench

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accelq/accelq/ring"
)

// curve is a synthetic pipelined curve: rates and CPU per job by depth.
func curve(profile, workload, op, class string, size int, rates, cpu, model map[int]float64) []Row {
	var rows []Row
	for _, d := range []int{1, 2, 4, 8, 16} {
		rows = append(rows, Row{Mode: ModePipelined, Profile: profile, Timing: "timing-only", Buffers: ZeroCopy,
			Workload: workload, Op: op, Class: class, Size: size, Depth: d, Batch: 1,
			OpsPerSec: rates[d], CPUPerOp: cpu[d], ModelOpsPerSec: model[d], Jobs: 1000})
	}
	return rows
}

func TestCrossovers(t *testing.T) {
	rows := []Row{
		{Mode: ModeCPU, Variant: VariantOneCore, Workload: "sha256/4KiB", Op: "sha256", Class: "symmetric", Size: 4096, OpsPerSec: 1000, CPUPerOp: 1000},
		{Mode: ModeCPU, Variant: VariantOneCore, Workload: "sha256/64KiB", Op: "sha256", Class: "symmetric", Size: 65536, OpsPerSec: 100, CPUPerOp: 10000},
	}
	// 4 KiB: overtakes at depth 4; frees CPU from depth 8; the model
	// already at 2, so the framework moved the crossover.
	rows = append(rows, curve("p", "sha256/4KiB", "sha256", "symmetric", 4096,
		map[int]float64{1: 200, 2: 600, 4: 1500, 8: 3000, 16: 2900},
		map[int]float64{1: 5000, 2: 2000, 4: 1200, 8: 900, 16: 800},
		map[int]float64{1: 800, 2: 1600, 4: 3200, 8: 6400, 16: 6400})...)
	// 64 KiB: never overtakes, never frees CPU.
	rows = append(rows, curve("p", "sha256/64KiB", "sha256", "symmetric", 65536,
		map[int]float64{1: 10, 2: 20, 4: 40, 8: 80, 16: 90},
		map[int]float64{1: 20000, 2: 20000, 4: 20000, 8: 20000, 16: 20000}, nil)...)
	// A batch-8 row and a copy row beating software must not count.
	rows = append(rows, Row{Mode: ModePipelined, Profile: "p", Timing: "timing-only", Buffers: ZeroCopy, Workload: "sha256/64KiB",
		Op: "sha256", Size: 65536, Depth: 1, Batch: 8, OpsPerSec: 1e9})
	rows = append(rows, Row{Mode: ModePipelined, Profile: "p", Timing: "timing-only", Buffers: Copy, Workload: "sha256/64KiB",
		Op: "sha256", Size: 65536, Depth: 1, Batch: 1, OpsPerSec: 1e9})
	a := answer(rows)
	if len(a.Crossovers) != 2 {
		t.Fatalf("%d crossovers, want 2: %+v", len(a.Crossovers), a.Crossovers)
	}
	x := a.Crossovers[0] // sorted by size
	if x.Workload != "sha256/4KiB" || x.Depth != 4 || x.CPUDepth != 8 || x.ModelDepth != 2 || x.BestDepth != 8 || x.Best != 3 {
		t.Errorf("4KiB crossover %+v, want depth 4, CPU depth 8, model depth 2, best 3x at 8", x)
	}
	if y := a.Crossovers[1]; y.Depth != 0 || y.CPUDepth != 0 || y.ModelDepth != 0 || y.BestDepth != 16 {
		t.Errorf("64KiB crossover %+v, want never", y)
	}
	want := map[int]int{1: 0, 2: 0, 4: 4096, 8: 4096, 16: 4096}
	for _, s := range a.SizeCrossovers {
		if s.Size != want[s.Depth] {
			t.Errorf("depth %d: size crossover %d, want %d", s.Depth, s.Size, want[s.Depth])
		}
	}
	if len(a.SizeCrossovers) != len(want) {
		t.Errorf("%d size crossovers, want %d", len(a.SizeCrossovers), len(want))
	}
}

func TestCrossoversPreferTimingOnly(t *testing.T) {
	rows := []Row{{Mode: ModeCPU, Variant: VariantOneCore, Workload: "w", OpsPerSec: 100}}
	rows = append(rows, curve("p", "w", "sha256", "symmetric", 1, map[int]float64{4: 200}, nil, nil)...)
	functional := curve("p", "w", "sha256", "symmetric", 1, map[int]float64{1: 200}, nil, nil)
	for i := range functional {
		functional[i].Timing = "functional"
	}
	a := answer(append(rows, functional...))
	if len(a.Crossovers) != 1 || a.Crossovers[0].Timing != "timing-only" || a.Crossovers[0].Depth != 4 {
		t.Errorf("crossovers %+v, want the timing-only one only, at depth 4", a.Crossovers)
	}
}

func TestSyncAnswers(t *testing.T) {
	rows := []Row{
		{Mode: ModeCPU, Variant: VariantOneCore, Workload: "rsa/2048bit", OpsPerSec: 1000},
		{Mode: ModeCPU, Variant: VariantOneCore, Workload: "aes/64B", OpsPerSec: 1e6},
		{Mode: ModeCPU, Variant: VariantOneCore, Workload: "aes/1MiB", OpsPerSec: 100},
		{Mode: ModeSync, Variant: VariantPoll, Clients: 1, Profile: "p", Timing: "timing-only", Class: "asymmetric", Workload: "rsa/2048bit", OpsPerSec: 2000},
		{Mode: ModeSync, Variant: VariantPoll, Clients: 1, Profile: "p", Timing: "timing-only", Class: "symmetric", Workload: "aes/64B", OpsPerSec: 1e5},
		{Mode: ModeSync, Variant: VariantPoll, Clients: 1, Profile: "p", Timing: "timing-only", Class: "symmetric", Workload: "aes/1MiB", OpsPerSec: 150},
		// Sleeping rows do not answer the polling question.
		{Mode: ModeSync, Variant: VariantSleep, Clients: 1, Profile: "p", Timing: "timing-only", Class: "symmetric", Workload: "aes/64B", OpsPerSec: 1e9},
	}
	a := answer(rows).Sync
	if len(a) != 2 {
		t.Fatalf("%d answers, want 2: %+v", len(a), a)
	}
	asym, sym := a[0], a[1]
	if !asym.Pays || !strings.Contains(asym.Text, "yes") || !strings.Contains(asym.Text, "2.00x") {
		t.Errorf("asymmetric: %+v", asym)
	}
	if !sym.Pays || !strings.Contains(sym.Text, "for aes/1MiB 1.50x; not for aes/64B 0.10x") {
		t.Errorf("symmetric: %q", sym.Text)
	}
	if sym.Cells[0].Workload != "aes/1MiB" {
		t.Errorf("cells not sorted best first: %+v", sym.Cells)
	}
}

func TestAnchors(t *testing.T) {
	w := anchorWorkload.String()
	rows := []Row{
		{Mode: ModeCPU, Variant: VariantOneCore, Workload: w, OpsPerSec: 1000},
		{Mode: ModeSync, Variant: VariantPoll, Clients: 1, Profile: "qat-gen2", Timing: "timing-only", Buffers: ZeroCopy, Workload: w, OpsPerSec: 2310 * 0.9},
		{Mode: ModePipelined, Variant: VariantAnchor, Batch: 1, Depth: AnchorDepth, Profile: "qat-gen2", Timing: "timing-only", Buffers: ZeroCopy, Workload: w, OpsPerSec: 65901 * 1.05},
	}
	got := answer(rows).Anchors
	if len(got) != len(publishedAnchors)+1 {
		t.Fatalf("%d anchor lines, want %d", len(got), len(publishedAnchors)+1)
	}
	if !strings.Contains(got[0], "measured on qat-gen2 (timing-only) 2,079/s (-10%) and 69,196/s (+5%); software on this host 1,000/s") {
		t.Errorf("qat-gen2 anchor: %q", got[0])
	}
	if strings.Contains(got[1], "measured") {
		t.Errorf("kunpeng920 anchor without rows claims a measurement: %q", got[1])
	}
	// An anchor row is not a curve: no crossover from depth 72 alone.
	if c := answer(rows).Crossovers; len(c) != 0 {
		t.Errorf("anchor rows made crossovers: %+v", c)
	}
}

func TestFlags(t *testing.T) {
	cases := []struct {
		name string
		row  Row
		want []string // prefixes, in order
	}{
		{"clean", Row{Timing: "timing-only", Fidelity: 0.95, Jobs: 100}, nil},
		{"no model", Row{Timing: "timing-only", Jobs: 100}, nil},
		{"framework", Row{Timing: "timing-only", Fidelity: 0.5, Jobs: 100}, []string{"framework-bound"}},
		{"loaded", Row{Timing: "timing-only", Fidelity: 0.5, Others: 0.8, Jobs: 100}, []string{"loaded host", "host-bound"}},
		{"late", Row{Timing: "timing-only", Fidelity: 0.95, HostLimited: 5, Jobs: 100}, []string{"host-limited"}},
		{"late within share", Row{Timing: "timing-only", Fidelity: 0.95, HostLimited: 1, Jobs: 1000}, nil},
		{"functional", Row{Timing: "functional", Fidelity: 0.1, HostLimited: 90, Jobs: 100}, []string{"host-bound"}},
		{"wrong", Row{Miscompares: 1, Verified: 64, Failed: 2, Fallbacks: 3}, []string{"MISCOMPARE", "2 jobs failed", "3 jobs ran in software"}},
	}
	for _, c := range cases {
		got := Flags(&c.row)
		if len(got) != len(c.want) {
			t.Errorf("%s: flags %q, want %q", c.name, got, c.want)
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], c.want[i]) {
				t.Errorf("%s: flag %d %q, want %q...", c.name, i, got[i], c.want[i])
			}
		}
	}
}

func TestHistogramSummary(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond / 10) // 0.1 us to 1000 us, uniform
	}
	s := h.summary()
	near := func(what string, got, want float64) {
		if got < want*0.995 || got > want*1.005 {
			t.Errorf("%s = %.3f us, want %.3f", what, got, want)
		}
	}
	near("min", s.Min, 0.1)
	near("p50", s.P50, 500)
	near("p90", s.P90, 900)
	near("p99", s.P99, 990)
	near("p99.9", s.P999, 999)
	near("max", s.Max, 1000)
	near("avg", s.Avg, 500.05)
	if (Latency{}) != newHistogram().summary() {
		t.Error("an empty histogram does not summarise to zeros")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Depths: []int{3}}, "depth 3: want a power of two"},
		{Config{Depths: []int{512}}, "depth 512"},
		{Config{Batches: []int{0}}, "batch 0"},
		{Config{Workloads: []Workload{{Op: ring.Opcode(0x7f), Size: 64}}}, "unknown operation"},
		{Config{Workloads: []Workload{{Op: anchorWorkload.Op, Size: 0}}}, "key size 0"},
		{Config{Workloads: []Workload{{Op: ring.OpSHA256, Size: 0}}}, "size 0 bytes"},
		{Config{Profiles: []string{"qat-gen9"}}, "unknown profile"},
		{Config{Modes: []Mode{"turbo"}}, "unknown mode"},
		{Config{Buffers: []string{"dma"}}, "unknown buffer mode"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("the default configuration: %v", err)
	}
	if !slices.Equal(Config{}.withDefaults().Depths, DefaultConfig().Depths) {
		t.Error("a zero Config does not take the default depths")
	}
}

// A cell measured on a loaded host is measured again, and the least loaded
// attempt is kept whatever its rate.
func TestMeasureRetriesLoaded(t *testing.T) {
	loads := []float64{0.9, 0.5, 0.7}
	rates := []float64{100, 50, 200}
	n := 0
	c := cell{label: "x", run: func(context.Context) ([]Row, error) {
		r := Row{Others: loads[n], OpsPerSec: rates[n]}
		n++
		return []Row{r}, nil
	}}
	rows, err := measure(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if n != loadedAttempts || rows[0].Others != 0.5 || rows[0].OpsPerSec != 50 || rows[0].Attempts != 2 {
		t.Errorf("%d attempts, kept %+v; want 3, the 0.5-core attempt (the second)", n, rows[0])
	}
	n, loads = 0, []float64{0.1}
	if rows, _ := measure(context.Background(), c); n != 1 || rows[0].Attempts != 1 {
		t.Errorf("a quiet cell was measured %d times", n)
	}
}

func TestMeasureMedian(t *testing.T) {
	rates := []float64{300, 100, 200}
	n := 0
	c := cell{label: "x", run: func(context.Context) ([]Row, error) {
		r := Row{OpsPerSec: rates[n]}
		n++
		return []Row{{Mode: ModeIOUringNop, OpsPerSec: 1e9}, r}, nil
	}}
	rows, err := measureMedian(context.Background(), c, 3)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || rows[1].OpsPerSec != 200 || rows[1].Runs != 3 {
		t.Errorf("%d runs, kept %+v; want the median, 200", n, rows[1])
	}
}
