package bench

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Answers are what a run's rows say about the offload question.
type Answers struct {
	// Crossovers, per profile and workload: the queue depth at which
	// pipelined offload overtakes software on one core.
	Crossovers []Crossover `json:"crossovers"`
	// SizeCrossovers, per profile, operation and depth: the smallest size
	// at which offload overtakes software.
	SizeCrossovers []SizeCrossover `json:"size_crossovers"`
	// Sync, per profile and class: does synchronous offload (one job in
	// flight, polling) ever beat software on one core?
	Sync []SyncAnswer `json:"sync"`
	// Anchors set the measurements beside published figures.
	Anchors []string `json:"anchors"`
}

// Crossover is where offload overtakes software for one workload.
type Crossover struct {
	Profile  string  `json:"profile"`
	Timing   string  `json:"timing"`
	Workload string  `json:"workload"`
	Op       string  `json:"op"`
	Class    string  `json:"class"`
	Size     int     `json:"size"`
	CPU      float64 `json:"cpu_ops_per_s"` // software, one core
	// Depth is the smallest depth at which offload's rate exceeds
	// software's on one core; 0 if none measured does.
	Depth int `json:"depth"`
	// CPUDepth is the smallest depth at which the submitting process spends
	// less CPU per job than computing it itself: where offload frees CPU.
	// 0 if none does.
	CPUDepth  int     `json:"cpu_depth"`
	Best      float64 `json:"best_speedup"` // the highest speedup measured
	BestDepth int     `json:"best_depth"`
	// ModelDepth is where the model says offload overtakes software: the
	// smallest depth whose predicted rate exceeds software's; 0 if none
	// does or no model applies. Where it is smaller than Depth, the
	// framework, not the modelled hardware, moved the crossover.
	ModelDepth int `json:"model_depth"`
}

// SizeCrossover is the smallest size at which offload pays at one depth.
type SizeCrossover struct {
	Profile string `json:"profile"`
	Op      string `json:"op"`
	Depth   int    `json:"depth"`
	Size    int    `json:"size"` // 0 if no size measured pays
}

// SyncAnswer says whether one job at a time on the device beats software.
type SyncAnswer struct {
	Profile string     `json:"profile"`
	Class   string     `json:"class"`
	Pays    bool       `json:"pays"`
	Cells   []SyncCell `json:"cells"`
	Text    string     `json:"text"`
}

// SyncCell is one workload's synchronous speedup.
type SyncCell struct {
	Workload string  `json:"workload"`
	Speedup  float64 `json:"speedup"` // sync (polling) ops/s over software on one core
}

// anchor is a published figure pair and the profile calibrated to it.
type anchor struct {
	profile, source  string
	sync, async, cpu float64
}

// publishedAnchors are DESIGN's anchors: RSA-2048 signatures per second.
var publishedAnchors = []anchor{
	{"qat-gen2", "QAT gen2 (QAT_Engine #132)", 2310, 65901, 1316},
	{"kunpeng920", "Kunpeng 920 KAE", 2819, 54384, 724},
}

// cutoffs are the vendors' offload thresholds, the implicit crossovers the
// size crossovers should explain.
const cutoffs = "vendor offload cut-offs (implicit crossovers): QAT_Engine ciphers 2 KB, QATzip 1 KB, kernel QAT zstd 8 KB, UADK 192-512 B"

// finish fills the columns that compare rows (speedup, warnings) and derives
// the answers.
func finish(rep *Report) {
	cpu := map[string]*Row{}
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Mode == ModeCPU && r.Variant == VariantOneCore {
			cpu[r.Workload] = r
		}
	}
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if b, ok := cpu[r.Workload]; ok && r.Mode != ModeIOUringNop && b.OpsPerSec > 0 {
			r.Speedup = r.OpsPerSec / b.OpsPerSec
		}
		r.Warnings = Flags(r)
	}
	rep.Answers = answer(rep.Rows)
}

// Thresholds of the fidelity flags.
const (
	// FidelityFloor is the share of the model's rate below which a row is
	// flagged: the framework or the host, not the model, set its rate.
	FidelityFloor = 0.9
	// LoadedHost is the other processes' CPU, in cores, above which a row's
	// rate is suspect.
	LoadedHost = 0.25
	// lateShare is the share of late completions above which a row is
	// flagged as host-limited.
	lateShare = 0.01
)

// Flags returns a row's warnings: every reason its rate may not be the
// model's, or its results not right.
func Flags(r *Row) []string {
	var w []string
	if r.Miscompares > 0 {
		w = append(w, fmt.Sprintf("MISCOMPARE: %d of %d checked outputs wrong", r.Miscompares, r.Verified))
	}
	if r.Failed > 0 {
		w = append(w, fmt.Sprintf("%d jobs failed", r.Failed))
	}
	if r.Fallbacks > 0 {
		w = append(w, fmt.Sprintf("%d jobs ran in software", r.Fallbacks))
	}
	loaded := r.Others > LoadedHost
	if loaded {
		w = append(w, fmt.Sprintf("loaded host: other processes used %.2f cores", r.Others))
	}
	late := r.Jobs > 0 && float64(r.HostLimited) > lateShare*float64(r.Jobs)
	below := r.Fidelity > 0 && r.Fidelity < FidelityFloor
	switch {
	case r.Timing == "functional" && (below || late):
		// The host computes the results: its speed, not the model's, is
		// expected to set the rate. One line says so.
		w = append(w, fmt.Sprintf("host-bound: the host computed at %.2f of the model's rate", r.Fidelity))
	case below && loaded:
		w = append(w, fmt.Sprintf("host-bound: %.2f of the model's rate on a loaded host", r.Fidelity))
	case below:
		w = append(w, fmt.Sprintf("framework-bound: %.2f of the model's rate", r.Fidelity))
	}
	if late && r.Timing != "functional" {
		w = append(w, fmt.Sprintf("host-limited: %d completions later than the model (%d measured)", r.HostLimited, r.Jobs))
	}
	return w
}

// answer derives the answers from the rows.
func answer(rows []Row) Answers {
	var a Answers
	cpu := map[string]*Row{}
	for i := range rows {
		if r := &rows[i]; r.Mode == ModeCPU && r.Variant == VariantOneCore {
			cpu[r.Workload] = r
		}
	}
	// The pipelined rows at batch 1, zero-copy, of the timing-only runs
	// where there are any: the modelled hardware's answer.
	type key struct{ profile, timing, workload string }
	curves := map[key][]*Row{}
	timingOnly := map[string]bool{}
	for i := range rows {
		r := &rows[i]
		if r.Mode == ModePipelined && r.Variant == "" && r.Batch == 1 && r.Buffers == ZeroCopy {
			k := key{r.Profile, r.Timing, r.Workload}
			curves[k] = append(curves[k], r)
			if r.Timing == "timing-only" {
				timingOnly[r.Profile] = true
			}
		}
	}
	for k, c := range curves {
		b, ok := cpu[k.workload]
		if !ok || b.OpsPerSec <= 0 || (timingOnly[k.profile] && k.timing != "timing-only") {
			continue
		}
		slices.SortFunc(c, func(x, y *Row) int { return cmp.Compare(x.Depth, y.Depth) })
		x := Crossover{Profile: k.profile, Timing: k.timing, Workload: k.workload, Op: c[0].Op, Class: c[0].Class,
			Size: c[0].Size, CPU: b.OpsPerSec}
		for _, r := range c {
			s := r.OpsPerSec / b.OpsPerSec
			if x.Depth == 0 && s > 1 {
				x.Depth = r.Depth
			}
			if x.ModelDepth == 0 && r.ModelOpsPerSec > b.OpsPerSec {
				x.ModelDepth = r.Depth
			}
			if x.CPUDepth == 0 && r.CPUPerOp > 0 && b.CPUPerOp > 0 && r.CPUPerOp < b.CPUPerOp {
				x.CPUDepth = r.Depth
			}
			if s > x.Best {
				x.Best, x.BestDepth = s, r.Depth
			}
		}
		a.Crossovers = append(a.Crossovers, x)
	}
	slices.SortFunc(a.Crossovers, func(x, y Crossover) int {
		return cmp.Or(cmp.Compare(x.Profile, y.Profile), cmp.Compare(x.Op, y.Op), cmp.Compare(x.Size, y.Size))
	})
	a.SizeCrossovers = sizeCrossovers(rows, cpu, timingOnly)
	a.Sync = syncAnswers(rows, cpu, timingOnly)
	a.Anchors = anchors(rows, cpu)
	return a
}

// sizeCrossovers finds, per profile, operation and depth, the smallest size
// whose pipelined rate beats software's on one core.
func sizeCrossovers(rows []Row, cpu map[string]*Row, timingOnly map[string]bool) []SizeCrossover {
	type key struct {
		profile, op string
		depth       int
	}
	best := map[key]int{}
	seen := map[key]bool{}
	for i := range rows {
		r := &rows[i]
		if r.Mode != ModePipelined || r.Variant != "" || r.Batch != 1 || r.Buffers != ZeroCopy || (timingOnly[r.Profile] && r.Timing != "timing-only") {
			continue
		}
		b, ok := cpu[r.Workload]
		if !ok || b.OpsPerSec <= 0 {
			continue
		}
		k := key{r.Profile, r.Op, r.Depth}
		seen[k] = true
		if r.OpsPerSec > b.OpsPerSec {
			if s, ok := best[k]; !ok || r.Size < s {
				best[k] = r.Size
			}
		}
	}
	var out []SizeCrossover
	for k := range seen {
		out = append(out, SizeCrossover{Profile: k.profile, Op: k.op, Depth: k.depth, Size: best[k]})
	}
	slices.SortFunc(out, func(x, y SizeCrossover) int {
		return cmp.Or(cmp.Compare(x.Profile, y.Profile), cmp.Compare(x.Op, y.Op), cmp.Compare(x.Depth, y.Depth))
	})
	return out
}

// syncAnswers says per profile and class whether synchronous offload pays.
func syncAnswers(rows []Row, cpu map[string]*Row, timingOnly map[string]bool) []SyncAnswer {
	type key struct{ profile, class string }
	m := map[key]*SyncAnswer{}
	for i := range rows {
		r := &rows[i]
		if r.Mode != ModeSync || r.Variant != VariantPoll || r.Clients != 1 || (timingOnly[r.Profile] && r.Timing != "timing-only") {
			continue
		}
		b, ok := cpu[r.Workload]
		if !ok || b.OpsPerSec <= 0 {
			continue
		}
		k := key{r.Profile, r.Class}
		if m[k] == nil {
			m[k] = &SyncAnswer{Profile: r.Profile, Class: r.Class}
		}
		s := r.OpsPerSec / b.OpsPerSec
		m[k].Cells = append(m[k].Cells, SyncCell{Workload: r.Workload, Speedup: s})
		if s > 1 {
			m[k].Pays = true
		}
	}
	var out []SyncAnswer
	for _, a := range m {
		slices.SortFunc(a.Cells, func(x, y SyncCell) int { return cmp.Compare(y.Speedup, x.Speedup) })
		var pays, not []string
		for _, c := range a.Cells {
			t := fmt.Sprintf("%s %.2fx", c.Workload, c.Speedup)
			if c.Speedup > 1 {
				pays = append(pays, t)
			} else {
				not = append(not, t)
			}
		}
		switch {
		case len(not) == 0:
			a.Text = fmt.Sprintf("%s on %s: yes, for every size measured (%s)", a.Class, a.Profile, strings.Join(pays, ", "))
		case len(pays) == 0:
			a.Text = fmt.Sprintf("%s on %s: no; the best is %s", a.Class, a.Profile, not[0])
		default:
			a.Text = fmt.Sprintf("%s on %s: for %s; not for %s", a.Class, a.Profile, strings.Join(pays, ", "), strings.Join(not, ", "))
		}
		out = append(out, *a)
	}
	slices.SortFunc(out, func(x, y SyncAnswer) int {
		return cmp.Or(cmp.Compare(x.Profile, y.Profile), cmp.Compare(x.Class, y.Class))
	})
	return out
}

// anchors sets the RSA-2048 measurements beside the published ones, per
// profile, and lists the vendors' cut-offs for comparison with the size
// crossovers.
func anchors(rows []Row, cpu map[string]*Row) []string {
	w := anchorWorkload.String()
	type measured struct {
		sync, async float64
		warn        []string
	}
	got := map[string]*measured{}
	for i := range rows {
		r := &rows[i]
		if r.Workload != w || r.Buffers != ZeroCopy || r.Timing != "timing-only" {
			continue
		}
		m := got[r.Profile]
		if m == nil {
			m = &measured{}
			got[r.Profile] = m
		}
		switch {
		case r.Mode == ModeSync && r.Variant == VariantPoll && r.Clients == 1:
			m.sync = r.OpsPerSec
		case r.Mode == ModePipelined && r.Batch == 1 && r.Depth == AnchorDepth:
			m.async = r.OpsPerSec
		default:
			continue
		}
		m.warn = append(m.warn, r.Warnings...)
	}
	soft := ""
	if b := cpu[w]; b != nil {
		soft = fmt.Sprintf("; software on this host %s/s", group(b.OpsPerSec))
	}
	var out []string
	for _, a := range publishedAnchors {
		line := fmt.Sprintf("RSA-2048 sign, %s: published %s/s synchronous, %s/s with %d in flight, software %s/s",
			a.source, group(a.sync), group(a.async), AnchorDepth, group(a.cpu))
		if m := got[a.profile]; m != nil && m.sync > 0 && m.async > 0 {
			line += fmt.Sprintf("; measured on %s (timing-only) %s/s (%+.0f%%) and %s/s (%+.0f%%)%s", a.profile,
				group(m.sync), 100*(m.sync/a.sync-1), group(m.async), 100*(m.async/a.async-1), soft)
			if len(m.warn) > 0 {
				line += " (suspect: " + strings.Join(m.warn, "; ") + ")"
			}
		}
		out = append(out, line)
	}
	return append(out, cutoffs)
}

// group prints a rate rounded to a whole number with thousands separators.
func group(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
