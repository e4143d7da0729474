// Command accelbench measures when offload pays: the same operations in
// software on one core and on all, synchronously on the device (one job in
// flight, as AF_ALG does it), pipelined at queue depths 1 to 256 and batches
// of 1, 8 and 32, through the kernel's AF_ALG where it exists, and the null
// job beside io_uring's NOP. It prints a table, the crossovers and whether
// synchronous offload pays, next to published anchors.
//
// With no arguments it runs the main job: a representative matrix on the
// embedded qat-gen4 device in under two minutes on two cores.
//
//	accelbench [--profiles qat-gen4,kunpeng920] [--ops aes-gcm-seal,rsa-sign-pss]
//	           [--sizes 64,4K,1M] [--depths 1,8,64] [--socket /run/accelq.sock]
//	           [--csv out.csv] [--json out.json] [--plots dir]
//
// A bad flag gets one line on stderr and exit status 2; a run whose checked
// outputs were wrong, or a mode asked for that gave no rows and no reason,
// exits 1 after the report.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/sys/unix"

	"github.com/accelq/accelq/bench"
	"github.com/accelq/accelq/ring"
	"github.com/accelq/accelq/sim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a bad command line: exit status 2.
type usageError struct{ error }

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, strings.Replace(usage, "PROFILES", strings.Join(sim.Profiles(), ", "), 1))
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "accelbench:", err)
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	if opts.check != "" {
		return check(opts.check, stdout, stderr)
	}
	if opts.from != "" {
		rep, err := load(opts.from)
		if err == nil {
			err = write(rep, opts, stdout)
		}
		if err != nil {
			fmt.Fprintln(stderr, "accelbench:", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var bar *progressbar.ProgressBar
	if opts.progress && isTerminal(stderr) {
		opts.cfg.Progress = func(done, total int, cell string) {
			if bar == nil {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr),
					progressbar.OptionSetDescription("accelbench"), progressbar.OptionShowCount(),
					progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(),
					progressbar.OptionThrottle(100*time.Millisecond))
			}
			bar.Describe(cell)
			bar.Set(done)
		}
	}
	rep, err := bench.Run(ctx, opts.cfg)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		fmt.Fprintln(stderr, "accelbench:", err)
		return 1
	}
	if err := write(rep, opts, stdout); err != nil {
		fmt.Fprintln(stderr, "accelbench:", err)
		return 1
	}
	if problems := rep.Check(); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "accelbench:", p)
		}
		return 1
	}
	return 0
}

// load reads a report that --json wrote.
func load(path string) (*bench.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &rep, nil
}

// check reads a JSON report and says whether it is sound (Report.Check).
func check(path string, stdout, stderr io.Writer) int {
	rep, err := load(path)
	if err != nil {
		fmt.Fprintln(stderr, "accelbench:", err)
		return 1
	}
	problems := rep.Check()
	for _, p := range problems {
		fmt.Fprintf(stderr, "accelbench: %s: %s\n", path, p)
	}
	if len(problems) > 0 {
		return 1
	}
	skipped := ""
	for _, s := range rep.Skipped {
		if s.What == "" {
			skipped += fmt.Sprintf("; %s not measured: %s", s.Mode, s.Reason)
		}
	}
	fmt.Fprintf(stdout, "%s: %d rows, no miscompare, every mode measured or explained%s\n", path, len(rep.Rows), skipped)
	return 0
}

// write prints the report and writes the files asked for.
func write(rep *bench.Report, opts options, stdout io.Writer) error {
	if opts.table {
		if err := rep.WriteTable(stdout); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
	}
	if err := rep.WriteAnswer(stdout); err != nil {
		return err
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{{opts.csv, rep.WriteCSV}, {opts.json, rep.WriteJSON}} {
		if out.path == "" {
			continue
		}
		if out.path == "-" {
			if err := out.write(stdout); err != nil {
				return err
			}
			continue
		}
		f, err := os.Create(out.path)
		if err != nil {
			return err
		}
		if err := out.write(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if opts.plots != "" {
		files, err := rep.WritePlots(opts.plots)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nplots: %s\n", strings.Join(files, " "))
	}
	return nil
}

type options struct {
	cfg       bench.Config
	csv, json string
	plots     string
	check     string
	from      string
	table     bool
	progress  bool
}

const usage = `usage: accelbench [flags]

With no flags: the main job, a representative matrix on the embedded qat-gen4
device (about two minutes on two cores).

  --modes LIST      cpu, sync, pipelined, afalg, iouring-nop (default all)
  --ops LIST        operations, as in docs/uapi.md (aes-gcm-seal, sha256, zstd-compress,
                    rsa-sign-pkcs1v15, ...), or "all": every operation a profile offers
  --sizes LIST      payload sizes of symmetric and compression jobs: 64, 4K, 1M (default 64,1K,4K,16K,64K,1M)
  --key-bits LIST   key sizes of asymmetric jobs (default 2048 for RSA, 256 for the curves)
  --profiles LIST   simulated devices, embedded: ` + "PROFILES" + `, or "all" (default qat-gen4)
  --socket PATH     run against the acceld serving PATH instead of embedded devices
  --depths LIST     pipelined queue depths, powers of two from 1 to 256 (default all)
  --batches LIST    pipelined submit batch sizes (default 1,8,32)
  --clients N       sync mode client goroutines (default 1)
  --buffers LIST    zero-copy, copy (default both; copy at depths 1 and 64)
  --timing LIST     timing-only (the model's rates), functional (real results, verified) (default both)
  --window D        measure each cell at least this long (default 80ms)
  --repeat N        measure each cell N times and keep the median run (default 1)
  --quick           a small matrix in a few seconds: every mode, one size per class
  --csv FILE        write every row as CSV ("-" for stdout)
  --json FILE       write the report as JSON ("-" for stdout)
  --plots DIR       write throughput, latency and crossover plots (PNG and SVG) into DIR
  --check FILE      check a JSON report: every mode measured or skipped with a reason,
                    no miscompare, no failed job, nothing run in software; exit 1 if not
  --from FILE       print, and write --csv, --plots, from a JSON report instead of running
  --no-table        print only the answer
  --no-progress     no progress bar on stderr
`

func parse(args []string) (options, error) {
	fs := flag.NewFlagSet("accelbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line by run
	fs.Usage = func() {}
	o := options{cfg: bench.DefaultConfig()}
	modes := fs.String("modes", "", "")
	ops := fs.String("ops", "", "")
	sizes := fs.String("sizes", "", "")
	keyBits := fs.String("key-bits", "", "")
	profiles := fs.String("profiles", "", "")
	fs.StringVar(&o.cfg.Socket, "socket", "", "")
	depths := fs.String("depths", "", "")
	batches := fs.String("batches", "", "")
	fs.IntVar(&o.cfg.Clients, "clients", o.cfg.Clients, "")
	fs.IntVar(&o.cfg.Repeat, "repeat", 1, "")
	buffers := fs.String("buffers", "", "")
	timing := fs.String("timing", "", "")
	fs.DurationVar(&o.cfg.Timing.Window, "window", o.cfg.Timing.Window, "")
	quick := fs.Bool("quick", false, "")
	fs.StringVar(&o.csv, "csv", "", "")
	fs.StringVar(&o.json, "json", "", "")
	fs.StringVar(&o.plots, "plots", "", "")
	fs.StringVar(&o.check, "check", "", "")
	fs.StringVar(&o.from, "from", "", "")
	noTable := fs.Bool("no-table", false, "")
	noProgress := fs.Bool("no-progress", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError{err}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	o.table, o.progress = !*noTable, !*noProgress
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		window := o.cfg.Timing.Window
		o.cfg = quickConfig(o.cfg)
		if set["window"] { // the flag given wins over the quick matrix's
			o.cfg.Timing.Window = window
		}
	}
	if set["repeat"] && o.cfg.Repeat < 1 {
		return o, usageError{fmt.Errorf("--repeat %d: want at least 1", o.cfg.Repeat)}
	}
	if set["clients"] && o.cfg.Clients < 1 {
		return o, usageError{fmt.Errorf("--clients %d: want at least 1", o.cfg.Clients)}
	}
	if o.cfg.Timing.Window > o.cfg.Timing.MaxWindow {
		o.cfg.Timing.MaxWindow = o.cfg.Timing.Window
	}
	var err error
	if *modes != "" {
		o.cfg.Modes = nil
		for _, m := range list(*modes) {
			o.cfg.Modes = append(o.cfg.Modes, bench.Mode(m))
		}
	}
	if *profiles != "" {
		o.cfg.Profiles = list(*profiles)
		if *profiles == "all" {
			o.cfg.Profiles = sim.Profiles()
		}
	}
	if *depths != "" {
		if o.cfg.Depths, err = ints("depths", *depths); err != nil {
			return o, err
		}
	}
	if *batches != "" {
		if o.cfg.Batches, err = ints("batches", *batches); err != nil {
			return o, err
		}
	}
	if *buffers != "" {
		o.cfg.Buffers = list(*buffers)
	}
	if *timing != "" {
		o.cfg.TimingOnly, o.cfg.Functional = false, false
		for _, t := range list(*timing) {
			switch t {
			case "timing-only":
				o.cfg.TimingOnly = true
			case "functional":
				o.cfg.Functional = true
			default:
				return o, usageError{fmt.Errorf("--timing %q: want timing-only or functional", t)}
			}
		}
	}
	if *ops != "" || *sizes != "" || *keyBits != "" {
		if o.cfg.Workloads, err = workloads(*ops, *sizes, *keyBits, o.cfg); err != nil {
			return o, err
		}
	}
	if err := o.cfg.Validate(); err != nil {
		return o, usageError{err}
	}
	return o, nil
}

// quickConfig is a small matrix that still runs every mode: a cheap cipher,
// a compressor and a signature at one size each, a few depths, and the
// copy mode once.
func quickConfig(c bench.Config) bench.Config {
	c.Workloads = []bench.Workload{
		{Op: ring.OpAESGCMSeal, Size: 4 << 10}, {Op: ring.OpZstdCompress, Size: 64 << 10},
		{Op: ring.OpECDSASign, Size: 256},
	}
	c.Depths, c.Batches, c.CopyDepths, c.IOUringBatches = []int{1, 8, 64}, []int{1, 8}, []int{8}, []int{1, 32}
	c.Timing = bench.Timing{Warmup: 5 * time.Millisecond, Window: 20 * time.Millisecond, MinJobs: 20, MaxWindow: 100 * time.Millisecond}
	return c
}

// workloads builds the workload list from the flags: every operation at
// every size of its kind, the ones from the current list where a flag is
// absent.
func workloads(opsFlag, sizesFlag, bitsFlag string, c bench.Config) ([]bench.Workload, error) {
	var ops []ring.Opcode
	seen := map[ring.Opcode]bool{}
	var sizes, bits []int
	for _, w := range c.Workloads {
		if !seen[w.Op] {
			seen[w.Op] = true
			ops = append(ops, w.Op)
		}
	}
	switch opsFlag {
	case "":
	case "all":
		ops = nil
		for _, o := range ring.Opcodes() {
			if o != ring.OpNop {
				ops = append(ops, o)
			}
		}
	default:
		ops = nil
		for _, name := range list(opsFlag) {
			o, err := ring.ParseOpcode(name)
			if err != nil {
				return nil, usageError{fmt.Errorf("--ops: %v", err)}
			}
			ops = append(ops, o)
		}
	}
	if sizesFlag != "" {
		for _, s := range list(sizesFlag) {
			n, err := parseSize(s)
			if err != nil {
				return nil, usageError{fmt.Errorf("--sizes: %v", err)}
			}
			sizes = append(sizes, n)
		}
	} else {
		sizes = []int{64, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 1 << 20}
	}
	if bitsFlag != "" {
		var err error
		if bits, err = ints("key-bits", bitsFlag); err != nil {
			return nil, err
		}
	}
	var out []bench.Workload
	for _, o := range ops {
		class, _ := o.Class()
		switch class {
		case ring.ClassAsymmetric:
			ks := bits
			if ks == nil {
				ks = []int{defaultBits(o)}
			}
			for _, k := range ks {
				if validBits(o, k) {
					out = append(out, bench.Workload{Op: o, Size: k})
				}
			}
		case ring.ClassNone:
			out = append(out, bench.Workload{Op: o})
		default:
			for _, n := range sizes {
				out = append(out, bench.Workload{Op: o, Size: n})
			}
		}
	}
	if len(out) == 0 {
		return nil, usageError{errors.New("no operation has a job of the sizes given")}
	}
	return out, nil
}

func isRSA(o ring.Opcode) bool {
	return strings.HasPrefix(o.String(), "rsa-")
}

func defaultBits(o ring.Opcode) int {
	if isRSA(o) {
		return 2048
	}
	return 256
}

// validBits reports whether a key of k bits exists for o: RSA 2048 to 4096,
// ECDSA and ECDH on P-256 and P-384, Ed25519 and X25519 at 256.
func validBits(o ring.Opcode, k int) bool {
	switch {
	case isRSA(o):
		return k >= 2048 && k <= 4096 && k%8 == 0
	case o == ring.OpECDSASign || o == ring.OpECDSAVerify || o == ring.OpECDH:
		return k == 256 || k == 384
	}
	return k == 256
}

// parseSize reads 64, 4K, 4KiB, 1M, 1MiB.
func parseSize(s string) (int, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(s), "IB"), "B")
	mult := 1
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, strings.TrimSuffix(t, "K")
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, strings.TrimSuffix(t, "M")
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 || n > (1<<30)/mult {
		return 0, fmt.Errorf("size %q: want a positive size up to 1GiB, such as 64, 4K or 1M", s)
	}
	return n * mult, nil
}

func ints(what, s string) ([]int, error) {
	var out []int
	for _, f := range list(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, usageError{fmt.Errorf("--%s: %q is not a number", what, f)}
		}
		out = append(out, n)
	}
	return out, nil
}

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// isTerminal reports whether w is a terminal, where a progress bar belongs.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
