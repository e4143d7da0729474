package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accelq/accelq/bench"
)

func TestBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--ops", "aes-gcm-sael"}, `unknown operation "aes-gcm-sael"`},
		{[]string{"--sizes", "0"}, `size "0"`},
		{[]string{"--sizes", "4X"}, `size "4X"`},
		{[]string{"--depths", "3"}, "depth 3: want a power of two from 1 to 256"},
		{[]string{"--depths", "1,x"}, `"x" is not a number`},
		{[]string{"--batches", "0"}, "batch 0"},
		{[]string{"--depths", "1,2", "--batches", "8"}, "batch 8: larger than every depth"},
		{[]string{"--clients", "0"}, "--clients 0"},
		{[]string{"--modes", "fast"}, `unknown mode "fast"`},
		{[]string{"--profiles", "qat-gen9"}, `unknown profile "qat-gen9"`},
		{[]string{"--timing", "slow"}, `--timing "slow"`},
		{[]string{"--buffers", "dma"}, `unknown buffer mode "dma"`},
		{[]string{"--frobnicate"}, "flag provided but not defined: -frobnicate"},
		{[]string{"--window", "soon"}, "invalid value"},
		{[]string{"stray"}, `unexpected argument "stray"`},
		{[]string{"--ops", "ecdsa-sign", "--key-bits", "1024"}, "no operation has a job of the sizes given"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], c.want) || !strings.HasPrefix(lines[0], "accelbench: ") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line with %q", c.args, code, stderr.String(), c.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: wrote to stdout: %q", c.args, stdout.String())
		}
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "--depths") || !strings.Contains(stdout.String(), "kunpeng920, qat-gen2") {
		t.Errorf("-h: exit %d, %q", code, stdout.String())
	}
}

func TestQuickKeepsWindow(t *testing.T) {
	o, err := parse([]string{"--window", "7ms", "--quick"})
	if err != nil || o.cfg.Timing.Window != 7*time.Millisecond {
		t.Errorf("--window 7ms --quick: window %v, %v", o.cfg.Timing.Window, err)
	}
}

func TestWorkloadFlags(t *testing.T) {
	o, err := parse([]string{"--ops", "sha256,rsa-sign-pss,ecdsa-sign,nop", "--sizes", "64,4K,1MiB", "--key-bits", "2048,384"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range o.cfg.Workloads {
		got = append(got, w.String())
	}
	want := "sha256/64B sha256/4KiB sha256/1MiB rsa-sign-pss/2048bit ecdsa-sign/384bit nop"
	if strings.Join(got, " ") != want {
		t.Errorf("workloads %q, want %q", got, want)
	}
}

// A quick run end to end: the answer on stdout, JSON and CSV files that
// parse, plots written.
func TestQuickRun(t *testing.T) {
	dir := t.TempDir()
	jsonPath, csvPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.csv")
	var stdout, stderr bytes.Buffer
	code := run([]string{"--quick", "--window", "10ms", "--json", jsonPath, "--csv", csvPath, "--plots", filepath.Join(dir, "plots")}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"machine: ", "When does offload pay?", "Anchors:", "plots: "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout has no %q", want)
		}
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	modes := map[bench.Mode]bool{}
	for _, r := range rep.Rows {
		modes[r.Mode] = true
		if r.Miscompares != 0 || r.Failed != 0 {
			t.Errorf("%s %s: %d miscompares, %d failed", r.Mode, r.Workload, r.Miscompares, r.Failed)
		}
	}
	for _, m := range bench.Modes() {
		reported := modes[m]
		for _, s := range rep.Skipped {
			reported = reported || (s.Mode == m && s.What == "")
		}
		if !reported {
			t.Errorf("mode %s neither measured nor reported skipped", m)
		}
	}
	if st, err := os.Stat(csvPath); err != nil || st.Size() == 0 {
		t.Errorf("CSV: %v", err)
	}
	// The saved report prints and plots again without a run.
	stdout.Reset()
	if code := run([]string{"--from", jsonPath, "--no-table", "--plots", filepath.Join(dir, "again")}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "When does offload pay?") || strings.Contains(stdout.String(), "machine: ") {
		t.Errorf("--from: exit %d, %q", code, stdout.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "again", "crossover-qat-gen4.svg")); err != nil {
		t.Errorf("--from --plots: %v", err)
	}
}
