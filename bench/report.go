package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/accelq/accelq/internal/bytesize"
)

// WriteJSON writes the whole report as one JSON document.
func (rep *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(rep)
}

// CSVHeader is the first line of WriteCSV's output: one column per Row field,
// latencies in microseconds, and the machine's description repeated on every
// line, so that rows from several machines' files can be concatenated.
var CSVHeader = []string{
	"mode", "variant", "profile", "target", "timing", "buffers", "workload", "op", "class", "size",
	"depth", "batch", "clients", "jobs", "seconds", "ops_per_s", "gb_per_s",
	"lat_min_us", "lat_avg_us", "lat_p50_us", "lat_p90_us", "lat_p99_us", "lat_p99_9_us", "lat_max_us",
	"cpu_us_per_op", "speedup", "jobs_per_doorbell", "jobs_per_wakeup", "queue_full_retries", "fallbacks",
	"ratio", "verified", "miscompares", "failed", "model_ops_per_s", "fidelity", "host_limited",
	"others_cores", "attempts", "warnings",
	"host_cpu", "host_cores", "host_go", "host_kernel", "host_load_cores",
}

// WriteCSV writes one line per row under CSVHeader.
func (rep *Report) WriteCSV(w io.Writer) error {
	c := csv.NewWriter(w)
	if err := c.Write(CSVHeader); err != nil {
		return err
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	d := func(x int) string { return strconv.Itoa(x) }
	u := func(x uint64) string { return strconv.FormatUint(x, 10) }
	i := func(x int64) string { return strconv.FormatInt(x, 10) }
	m := rep.Machine
	for _, r := range rep.Rows {
		l := r.Latency
		rec := []string{
			string(r.Mode), r.Variant, r.Profile, r.Target, r.Timing, r.Buffers, r.Workload, r.Op, r.Class, d(r.Size),
			d(r.Depth), d(r.Batch), d(r.Clients), i(r.Jobs), f(r.Seconds), f(r.OpsPerSec), f(r.GBPerSec),
			f(l.Min), f(l.Avg), f(l.P50), f(l.P90), f(l.P99), f(l.P999), f(l.Max),
			f(r.CPUPerOp), f(r.Speedup), f(r.JobsPerDoorbell()), f(r.JobsPerWakeup()), u(r.Retries), u(r.Fallbacks),
			f(r.Ratio), i(r.Verified), i(r.Miscompares), i(r.Failed), f(r.ModelOpsPerSec), f(r.Fidelity), u(r.HostLimited),
			f(r.Others), d(r.Attempts), strings.Join(r.Warnings, "; "),
			m.CPU, d(m.Cores), m.GoVersion, m.Kernel, f(m.Load),
		}
		if err := c.Write(rec); err != nil {
			return err
		}
	}
	c.Flush()
	return c.Error()
}

// WriteTable writes the rows as a terminal table, the machine first and the
// skipped modes and warnings after.
func (rep *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "machine: %s\n\n", rep.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tvariant\tprofile\ttiming\tbuffers\tworkload\tdepth\tbatch\tops/s\tGB/s\tp50 us\tp99 us\tcpu us/op\tvs cpu\tjobs/bell\tjobs/wake\tratio\tfidelity\twarn\t")
	for _, r := range rep.Rows {
		warn := ""
		if len(r.Warnings) > 0 {
			warn = "!"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Mode, r.Variant, dash(r.Profile), dash(short(r.Timing)), dash(r.Buffers), r.Workload, r.Depth, r.Batch,
			rate(r.OpsPerSec), num(r.GBPerSec, 3), num(r.Latency.P50, 1), num(r.Latency.P99, 1), num(r.CPUPerOp, 2),
			times(r.Speedup), perEvent(r.JobsPerDoorbell(), r.Jobs), perEvent(r.JobsPerWakeup(), r.Jobs),
			num(r.Ratio, 2), num(r.Fidelity, 2), warn)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "GB/s are decimal gigabytes of payload; latencies from submission to the completion reaching the client;")
	fmt.Fprintln(w, "cpu us/op is this process's CPU clock (embedded, it includes the simulated device); jobs/bell and jobs/wake")
	fmt.Fprintln(w, "are jobs per doorbell rung and per client wake-up (none: \"all\"); fidelity is ops/s over the model's prediction.")
	rep.writeWarnings(w)
	rep.writeSkipped(w)
	return nil
}

// writeWarnings lists every row with a warning that makes its numbers wrong
// or suspect (a miscompare, a failure, a job in software, a loaded host) and
// counts the rate warnings (framework-, host-bound), which the table marks.
func (rep *Report) writeWarnings(w io.Writer) {
	var serious []string
	counts := map[string]int{}
	var kinds []string
	for _, r := range rep.Rows {
		for _, x := range r.Warnings {
			kind, _, _ := strings.Cut(x, ":")
			if kind == "framework-bound" || kind == "host-bound" || kind == "host-limited" {
				if counts[kind] == 0 {
					kinds = append(kinds, kind)
				}
				counts[kind]++
				continue
			}
			where := strings.Join(strings.Fields(strings.Join([]string{string(r.Mode), r.Variant, r.Profile, r.Timing, r.Buffers, r.Workload}, " ")), " ")
			serious = append(serious, fmt.Sprintf("  %s depth=%d batch=%d: %s", where, r.Depth, r.Batch, x))
		}
	}
	if len(kinds) > 0 {
		var parts []string
		for _, k := range kinds {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
		fmt.Fprintf(w, "\nrows marked !: %s (each row's reason is in the CSV and JSON warnings)\n", strings.Join(parts, ", "))
		fmt.Fprintf(w, "  framework-bound: below %.0f%% of the model's rate on a quiet host: accelq, not the modelled device, set the rate\n", 100*FidelityFloor)
		fmt.Fprintln(w, "  host-bound: the host computed the results (functional rows), or other processes loaded it")
		fmt.Fprintln(w, "  host-limited: the device posted completions later than the model allowed")
	}
	if len(serious) > 0 {
		fmt.Fprintf(w, "\nwarnings (%d):\n%s\n", len(serious), strings.Join(serious, "\n"))
	}
}

func (rep *Report) writeSkipped(w io.Writer) {
	if len(rep.Skipped) == 0 {
		return
	}
	fmt.Fprintln(w, "\nnot measured:")
	for _, s := range rep.Skipped {
		what := strings.TrimSpace(strings.Join([]string{string(s.Mode), s.Profile, s.What}, " "))
		if what == "" {
			what = "workload"
		}
		fmt.Fprintf(w, "  %s: %s\n", what, s.Reason)
	}
}

// WriteAnswer writes the answer to the offload question in words and
// numbers: the crossovers, whether synchronous offload pays, the anchors.
func (rep *Report) WriteAnswer(w io.Writer) error {
	a := rep.Answers
	fmt.Fprintln(w, "When does offload pay? (pipelined, batch 1, against software on one core of this host)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "profile\ttiming\tworkload\tsoftware ops/s\tovertakes at depth\tthe model says\tfrees CPU at depth\tbest\tat depth\t")
	for _, x := range a.Crossovers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", x.Profile, short(x.Timing), x.Workload, rate(x.CPU),
			depthOrNever(x.Depth), depthOrNever(x.ModelDepth), depthOrNever(x.CPUDepth), times(x.Best), x.BestDepth)
	}
	tw.Flush()
	if len(a.SizeCrossovers) > 0 {
		fmt.Fprintln(w, "\nSmallest size at which offload overtakes software, per depth:")
		byOp := map[string][]SizeCrossover{}
		var order []string
		for _, s := range a.SizeCrossovers {
			k := s.Profile + " " + s.Op
			if byOp[k] == nil {
				order = append(order, k)
			}
			byOp[k] = append(byOp[k], s)
		}
		for _, k := range order {
			var parts []string
			for _, s := range byOp[k] {
				v := "never"
				if s.Size > 0 {
					v = sizeOrBits(s.Op, s.Size)
				}
				parts = append(parts, fmt.Sprintf("%d:%s", s.Depth, v))
			}
			fmt.Fprintf(w, "  %s  %s\n", k, strings.Join(parts, " "))
		}
	}
	if len(a.Sync) > 0 {
		fmt.Fprintln(w, "\nDoes synchronous offload (one job in flight, polling) ever pay?")
		for _, s := range a.Sync {
			fmt.Fprintf(w, "  %s\n", s.Text)
		}
	}
	fmt.Fprintln(w, "\nAnchors:")
	for _, s := range a.Anchors {
		fmt.Fprintf(w, "  %s\n", s)
	}
	return nil
}

// sizeOrBits prints a crossover size as the operation measures it.
func sizeOrBits(op string, n int) string {
	for _, w := range []string{"rsa", "ecdsa", "ed25519", "x25519", "ecdh"} {
		if strings.HasPrefix(op, w) {
			return fmt.Sprintf("%dbit", n)
		}
	}
	return bytesize.Name(n)
}

func short(timing string) string {
	switch timing {
	case "timing-only":
		return "model"
	case "functional":
		return "real"
	}
	return timing
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func depthOrNever(d int) string {
	if d == 0 {
		return "never"
	}
	return strconv.Itoa(d)
}

// rate prints ops/s with a metric suffix.
func rate(x float64) string {
	switch {
	case x == 0:
		return "-"
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

func num(x float64, prec int) string {
	if x == 0 {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

func times(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", x)
}

// perEvent prints jobs per doorbell or wake-up: "all" when jobs completed
// without any.
func perEvent(x float64, jobs int64) string {
	if x == 0 {
		if jobs > 0 {
			return "all"
		}
		return "-"
	}
	return strconv.FormatFloat(x, 'f', 1, 64)
}
