package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accelq/accelq/internal/testutil"
	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

// smokeConfig is a run of every mode in a second or two.
func smokeConfig() Config {
	return Config{
		Workloads: []Workload{{ring.OpAESGCMSeal, 1024}, {ring.OpSHA256, 4096}, {ring.OpZstdCompress, 16 << 10}, {ring.OpECDSASign, 256}},
		Depths:    []int{1, 8}, Batches: []int{1, 8}, CopyDepths: []int{8}, FunctionalDepth: 8,
		IOUringBatches: []int{8}, Anchors: true,
		Timing: Timing{Warmup: 2 * time.Millisecond, Window: 10 * time.Millisecond, MinJobs: 10, MaxWindow: 50 * time.Millisecond},
	}
}

// The whole harness on the embedded device: every mode the machine supports
// gives rows, every checked output is right, and what the machine lacks is
// reported, not dropped.
func TestRunSmoke(t *testing.T) {
	rep, err := Run(context.Background(), smokeConfig())
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep)
	count := map[Mode]int{}
	for _, r := range rep.Rows {
		count[r.Mode]++
	}
	skipped := map[Mode]string{}
	for _, s := range rep.Skipped {
		if s.What == "" || s.What == "io_uring" {
			skipped[s.Mode] = s.Reason
		}
	}
	for _, m := range Modes() {
		if count[m] == 0 && skipped[m] == "" {
			t.Errorf("mode %s: no rows and no reason", m)
		}
	}
	if err := AFALGAvailable(); errors.Is(err, unix.ErrNoAFALG) {
		if !strings.Contains(skipped[ModeAFALG], "EAFNOSUPPORT") {
			t.Errorf("AF_ALG missing, but the report says %q", skipped[ModeAFALG])
		}
	} else if count[ModeAFALG] == 0 {
		t.Errorf("AF_ALG present (%v) but no afalg rows", err)
	}
	// Functional rows checked real results; timing-only rows computed none.
	var verified int64
	for _, r := range rep.Rows {
		if r.Timing == "functional" {
			verified += r.Verified
		}
	}
	if verified == 0 {
		t.Error("no functional output was verified")
	}
	// The anchors were measured on the profiles calibrated to them.
	if !strings.Contains(rep.Answers.Anchors[0], "measured on qat-gen2") || !strings.Contains(rep.Answers.Anchors[1], "measured on kunpeng920") {
		t.Errorf("anchors: %q", rep.Answers.Anchors)
	}
	if len(rep.Answers.Crossovers) != 4 || len(rep.Answers.Sync) == 0 {
		t.Errorf("answers: %d crossovers, %d sync answers", len(rep.Answers.Crossovers), len(rep.Answers.Sync))
	}

	t.Run("CSV", func(t *testing.T) {
		var b bytes.Buffer
		if err := rep.WriteCSV(&b); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(rep.Rows)+1 || strings.Join(recs[0], ",") != strings.Join(CSVHeader, ",") {
			t.Fatalf("%d records for %d rows; header %q", len(recs), len(rep.Rows), recs[0])
		}
		for i, rec := range recs[1:] {
			if len(rec) != len(CSVHeader) || rec[0] != string(rep.Rows[i].Mode) || rec[6] != rep.Rows[i].Workload {
				t.Errorf("record %d: %q", i, rec[:7])
			}
			if rec[len(rec)-4] != strconv.Itoa(rep.Machine.Cores) || rec[len(rec)-5] != rep.Machine.CPU {
				t.Errorf("record %d does not describe the machine: %q", i, rec[len(rec)-5:])
			}
		}
	})
	t.Run("JSON", func(t *testing.T) {
		var b bytes.Buffer
		if err := rep.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		var back Report
		if err := json.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if len(back.Rows) != len(rep.Rows) || back.Machine.Cores != rep.Machine.Cores || len(back.Answers.Crossovers) != len(rep.Answers.Crossovers) {
			t.Errorf("JSON round trip lost rows or answers")
		}
		var generic map[string]any
		json.Unmarshal(b.Bytes(), &generic)
		row := generic["rows"].([]any)[0].(map[string]any)
		for _, k := range []string{"mode", "workload", "ops_per_s", "gb_per_s", "latency_us", "cpu_us_per_op", "verified", "miscompares", "host_limited", "others_cores"} {
			if _, ok := row[k]; !ok {
				t.Errorf("JSON row has no %q", k)
			}
		}
	})
	t.Run("Table", func(t *testing.T) {
		var b bytes.Buffer
		rep.WriteTable(&b)
		rep.WriteAnswer(&b)
		out := b.String()
		for _, want := range []string{"machine: ", "ops/s", "When does offload pay?", "Does synchronous offload", "Anchors:"} {
			if !strings.Contains(out, want) {
				t.Errorf("the terminal report has no %q", want)
			}
		}
	})
	t.Run("Plots", func(t *testing.T) {
		dir := t.TempDir()
		files, err := rep.WritePlots(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"throughput-qat-gen4-sha256.png", "latency-qat-gen4-zstd-compress.svg", "crossover-qat-gen4.png"} {
			st, err := os.Stat(filepath.Join(dir, want))
			if err != nil || st.Size() < 1000 {
				t.Errorf("%s: %v (files %q)", want, err, files)
			}
		}
		png, _ := os.ReadFile(filepath.Join(dir, "crossover-qat-gen4.png"))
		if !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Error("crossover plot is not a PNG")
		}
	})
}

// checkReport asserts what every report must hold: rows with rates, no
// miscompare, no failure, nothing run in software behind the report's back.
func checkReport(t *testing.T, rep *Report) {
	t.Helper()
	if len(rep.Rows) == 0 {
		t.Fatal("no rows")
	}
	if rep.Machine.Cores == 0 || rep.Machine.GoVersion == "" || rep.Machine.Kernel == "" {
		t.Errorf("machine %+v", rep.Machine)
	}
	for _, r := range rep.Rows {
		if r.Jobs == 0 || r.OpsPerSec <= 0 {
			t.Errorf("%s %s %s depth %d: no jobs measured", r.Mode, r.Variant, r.Workload, r.Depth)
		}
		if r.Miscompares != 0 || r.Failed != 0 || r.Fallbacks != 0 {
			t.Errorf("%s %s %s depth %d: %d miscompares, %d failed, %d in software", r.Mode, r.Variant, r.Workload, r.Depth,
				r.Miscompares, r.Failed, r.Fallbacks)
		}
		if r.Mode != ModeIOUringNop && r.Latency.P50 <= 0 {
			t.Errorf("%s %s %s: no latency", r.Mode, r.Variant, r.Workload)
		}
	}
}

// The same against a real acceld in another process: the rows name it, and
// the daemon's CPU is not counted as another process's load.
func TestRunAcceld(t *testing.T) {
	for _, timing := range []string{"timing-only", "functional"} {
		t.Run(timing, func(t *testing.T) {
			args := []string{"--profile", "qat-gen4"}
			if timing == "timing-only" {
				args = append(args, "--timing-only")
			}
			d := testutil.StartAcceld(t, args...)
			cfg := smokeConfig()
			cfg.Modes = []Mode{ModeCPU, ModeSync, ModePipelined}
			cfg.Workloads = cfg.Workloads[:2]
			cfg.Socket = d.Socket
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkReport(t, rep)
			var device int
			for _, r := range rep.Rows {
				if r.Mode == ModeCPU {
					continue
				}
				device++
				if r.Target != "acceld" || r.Profile != "qat-gen4" || r.Timing != timing {
					t.Errorf("row against %s/%s/%s, want acceld/qat-gen4/%s", r.Target, r.Profile, r.Timing, timing)
				}
			}
			if device == 0 {
				t.Error("no device rows")
			}
			if pid := daemonPID(d.Socket); pid != d.Cmd.Process.Pid {
				t.Errorf("daemon pid %d, want %d", pid, d.Cmd.Process.Pid)
			}
		})
	}
}

// A depth the profile's queues cannot hold is skipped with the reason, and
// the rest of the run goes on.
func TestRunDepthBeyondProfile(t *testing.T) {
	cfg := smokeConfig()
	cfg.Modes = []Mode{ModeSync, ModePipelined}
	cfg.Profiles, cfg.Depths, cfg.Batches, cfg.Buffers = []string{"qat-gen2"}, []int{128, 256}, []int{1}, []string{ZeroCopy}
	cfg.Workloads, cfg.TimingOnly, cfg.Anchors = []Workload{{ring.OpSHA256, 64}, {ring.OpZstdCompress, 64}}, true, false
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var depths []int
	for _, r := range rep.Rows {
		if r.Mode == ModePipelined {
			depths = append(depths, r.Depth)
		}
	}
	reasons := map[string]string{}
	for _, s := range rep.Skipped {
		reasons[string(s.Mode)+" "+s.What] = s.Reason
	}
	if len(depths) != 1 || depths[0] != 128 {
		t.Errorf("pipelined depths %v, want [128]", depths)
	}
	if !strings.Contains(reasons["pipelined sha256/64B depth 256"], "at most 128") {
		t.Errorf("skips %q", reasons)
	}
	// qat-gen2 has no zstd: skipped for both device modes, so the report is sound.
	if reasons["sync zstd-compress/64B"] == "" || reasons["pipelined zstd-compress/64B"] == "" {
		t.Errorf("zstd not skipped per mode: %q", reasons)
	}
	if p := rep.Check(); len(p) != 0 {
		t.Errorf("Check: %q", p)
	}
}
