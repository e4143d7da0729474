package sim

import (
	"math"
	"testing"
	"time"

	"github.com/accelq/accelq/ring"
)

// Devices built to make one link direction the bottleneck, which no built-in
// profile is for the jobs tested here.
const (
	// predictLinkIn: engines far faster than a 2 GB/s link.
	predictLinkIn = `{
  "name": "predict-link-in",
  "ops": ["aes-gcm-seal"],
  "engines": {"symmetric": 16},
  "max_queues": 1, "max_depth": 1024,
  "latency_us": {"default": 2},
  "engine_setup_us": {"default": 0.1},
  "rate_gbyte_per_s": {"symmetric": 4},
  "link": {"gbyte_per_s": 2, "setup_us": 0.546, "ns_per_byte": 0.29}
}`
	// predictLinkOut: an RSA signature (256 bytes out for 32 in) over a link of
	// 1 byte per microsecond, behind plenty of fast engines.
	predictLinkOut = `{
  "name": "predict-link-out",
  "ops": ["rsa-sign-pss"],
  "engines": {"asymmetric": 64},
  "max_queues": 1, "max_depth": 1024,
  "latency_us": {"default": 2},
  "asym_cost_us": {"rsa-sign": {"2048": 1}},
  "link": {"gbyte_per_s": 0.001, "setup_us": 0.546}
}`
	// predictNoDefault: no "default" latency, so a nop costs nothing.
	predictNoDefault = `{
  "name": "predict-no-default",
  "ops": ["sha256"],
  "engines": {"symmetric": 1},
  "max_queues": 1, "max_depth": 64,
  "latency_us": {"symmetric": 1},
  "rate_gbyte_per_s": {"symmetric": 1}
}`
)

// TestThroughputMatchesClosedLoop checks the closed form against the model
// itself, run as a closed loop on a virtual clock, and that each case is bound
// by the term it was chosen for, so that every term of the min is exercised.
func TestThroughputMatchesClosedLoop(t *testing.T) {
	cases := []struct {
		name   string
		model  *Model
		job    Job
		depth  int
		bound  string // engines, link-in, link-out or depth
		jobsIn int    // closed-loop jobs to run
	}{
		{"qat-gen4 aes-gcm-seal 4KiB d1", mustModel(t, "qat-gen4"), Job{Op: ring.OpAESGCMSeal, Bytes: 4096}, 1, "depth", 5000},
		{"qat-gen4 aes-gcm-seal 4KiB d64", mustModel(t, "qat-gen4"), Job{Op: ring.OpAESGCMSeal, Bytes: 4096}, 64, "engines", 20000},
		{"qat-gen4 crc32c 64KiB d64", mustModel(t, "qat-gen4"), Job{Op: ring.OpCRC32C, Bytes: 64 << 10}, 64, "engines", 20000},
		{"qat-gen4 x25519 d64", mustModel(t, "qat-gen4"), Job{Op: ring.OpX25519, KeyBits: 256}, 64, "engines", 20000},
		{"qat-gen2 rsa-sign-pss 2048 d1", mustModel(t, "qat-gen2"), Job{Op: ring.OpRSASignPSS, KeyBits: 2048, Bytes: 32}, 1, "depth", 2000},
		{"qat-gen2 rsa-sign-pss 2048 d72", mustModel(t, "qat-gen2"), Job{Op: ring.OpRSASignPSS, KeyBits: 2048, Bytes: 32}, 72, "engines", 20000},
		{"qat-gen2 sha256 64B d64", mustModel(t, "qat-gen2"), Job{Op: ring.OpSHA256, Bytes: 64}, 64, "depth", 20000},
		{"qat-gen2 nop d64", mustModel(t, "qat-gen2"), Job{Op: ring.OpNop}, 64, "depth", 20000},
		{"kunpeng920 rsa-decrypt-oaep 4096 d8", mustModel(t, "kunpeng920"), Job{Op: ring.OpRSADecryptOAEP, KeyBits: 4096, Bytes: 512}, 8, "depth", 5000},
		{"kunpeng920 ecdsa-sign 256 d64", mustModel(t, "kunpeng920"), Job{Op: ring.OpECDSASign, KeyBits: 256, Bytes: 32}, 64, "depth", 20000},
		{"bluefield3 ecdsa-verify 384 d64", mustModel(t, "bluefield3"), Job{Op: ring.OpECDSAVerify, KeyBits: 384, Bytes: 48}, 64, "engines", 20000},
		{"iaa gzip-decompress 64KiB d128", mustModel(t, "iaa"), Job{Op: ring.OpGzipDecompress, Bytes: 64 << 10}, 128, "engines", 20000},
		{"link-in aes-gcm-seal 64KiB d64", NewModel(mustParse(t, predictLinkIn)), Job{Op: ring.OpAESGCMSeal, Bytes: 64 << 10}, 64, "link-in", 20000},
		{"link-out rsa-sign-pss d64", NewModel(mustParse(t, predictLinkOut)), Job{Op: ring.OpRSASignPSS, KeyBits: 2048, Bytes: 32}, 64, "link-out", 5000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, j := tc.model, tc.job
			want := m.Throughput(j, tc.depth)
			got := closedLoop(m, j, tc.depth, tc.jobsIn).Throughput
			t.Logf("predicted %.0f/s, closed loop %.0f/s (%+.2f%%)", want, got, 100*(got/want-1))
			if !withinTol(got, want, 0.02) {
				t.Errorf("closed loop %.0f/s, predicted %.0f/s", got, want)
			}
			c := m.Costs(j)
			terms := map[string]float64{"depth": float64(tc.depth) / c.Latency().Seconds()}
			if c.Service > 0 {
				terms["engines"] = float64(m.Engines(c.Class)) / c.Service.Seconds()
			}
			if c.InLink > 0 {
				terms["link-in"] = 1 / c.InLink.Seconds()
			}
			if c.OutLink > 0 {
				terms["link-out"] = 1 / c.OutLink.Seconds()
			}
			if b, ok := terms[tc.bound]; !ok || b != want {
				t.Errorf("not %s bound: predicted %.0f/s, terms %v", tc.bound, want, terms)
			}
		})
	}
}

func TestThroughputSpecialCases(t *testing.T) {
	if x := mustModel(t, "ideal").Throughput(Job{Op: ring.OpRSASignPSS, KeyBits: 4096, Bytes: 32}, 1); !math.IsInf(x, 1) {
		t.Errorf("ideal: %v, want +Inf", x)
	}
	iaa := mustModel(t, "iaa")
	if x := iaa.Throughput(Job{Op: ring.OpSHA256, Bytes: 64}, 64); x != 0 {
		t.Errorf("iaa sha256, which it does not offer: %v, want 0", x)
	}
	if x := iaa.Throughput(Job{Op: 0x7f, Bytes: 64}, 64); x != 0 {
		t.Errorf("undefined opcode: %v, want 0", x)
	}
	if x := iaa.Throughput(Job{Op: ring.OpDeflateCompress, Bytes: 64}, 0); x != 0 {
		t.Errorf("depth 0: %v, want 0", x)
	}
	// A nop is bound by its fixed latency alone, whatever bytes it names.
	g2 := mustModel(t, "qat-gen2")
	if x, want := g2.Throughput(Job{Op: ring.OpNop, Bytes: 1 << 20}, 10), 10/(5*time.Microsecond).Seconds(); !withinTol(x, want, 1e-12) {
		t.Errorf("qat-gen2 nop at depth 10: %v, want %v", x, want)
	}
	if x := NewModel(mustParse(t, predictNoDefault)).Throughput(Job{Op: ring.OpNop}, 1); !math.IsInf(x, 1) {
		t.Errorf("nop with no latency at all: %v, want +Inf", x)
	}
	// No input: the input link does not bound the job, and nothing is divided by zero.
	for _, j := range []Job{{Op: ring.OpX25519, KeyBits: 256}, {Op: ring.OpSHA256}} {
		x := g2.Throughput(j, 64)
		if math.IsInf(x, 0) || math.IsNaN(x) || x <= 0 {
			t.Errorf("%v of no bytes: %v, want finite and positive", j.Op, x)
		}
		c := g2.Costs(j)
		if want := math.Min(64/c.Latency().Seconds(), float64(g2.Engines(c.Class))/c.Service.Seconds()); !withinTol(x, want, 1e-12) {
			t.Errorf("%v of no bytes: %v, want %v", j.Op, x, want)
		}
	}
}

// TestClosedLoopBatches checks the batched closed loop: at batch 1 it is the
// loop Throughput solves; at batch = depth on an engine-bound job every round
// waits for the last of its jobs, which queue on the engines behind each other.
func TestClosedLoopBatches(t *testing.T) {
	for _, c := range []struct {
		profile string
		job     Job
		depth   int
	}{
		{"qat-gen4", Job{Op: ring.OpAESGCMSeal, Bytes: 4096}, 1},
		{"qat-gen4", Job{Op: ring.OpAESGCMSeal, Bytes: 4096}, 64},
		{"qat-gen2", Job{Op: ring.OpRSASignPSS, KeyBits: 2048, Bytes: 32}, 72},
		{"qat-gen2", Job{Op: ring.OpNop}, 64},
		{"iaa", Job{Op: ring.OpGzipDecompress, Bytes: 64 << 10}, 128},
	} {
		m := mustModel(t, c.profile)
		if got, want := m.ClosedLoop(c.job, c.depth, 1), m.Throughput(c.job, c.depth); !withinTol(got, want, 0.02) {
			t.Errorf("%s %v depth %d batch 1: %.0f/s, Throughput %.0f/s", c.profile, c.job.Op, c.depth, got, want)
		}
	}
	m := mustModel(t, "qat-gen4")
	j := Job{Op: ring.OpAESGCMSeal, Bytes: 4096}
	costs := m.Costs(j)
	e := m.Engines(costs.Class)
	const depth = 64
	rounds := (depth + e - 1) / e // jobs each engine runs per round
	want := depth / (costs.Latency() + time.Duration(rounds-1)*costs.Service).Seconds()
	got := m.ClosedLoop(j, depth, depth)
	t.Logf("batch %d: %.0f/s, analytic %.0f/s; batch 1: %.0f/s", depth, got, want, m.ClosedLoop(j, depth, 1))
	if !withinTol(got, want, 0.03) {
		t.Errorf("batch %d of %d: %.0f/s, want %.0f/s", depth, depth, got, want)
	}
	if b8 := m.ClosedLoop(j, depth, 8); !(b8 <= m.ClosedLoop(j, depth, 1)*1.001 && b8 >= got) {
		t.Errorf("batch 8 (%.0f/s) not between batch 64 and batch 1", b8)
	}
	for _, b := range []int{0, depth + 1} {
		if x := m.ClosedLoop(j, depth, b); x != 0 {
			t.Errorf("batch %d: %v, want 0", b, x)
		}
	}
	if x := mustModel(t, "ideal").ClosedLoop(j, 1, 1); !math.IsInf(x, 1) {
		t.Errorf("ideal: %v, want +Inf", x)
	}
	// It leaves the model as it found it: a Schedule afterwards sees idle engines.
	fresh := mustModel(t, "qat-gen4")
	d1, _ := fresh.Schedule(0, j)
	d2, _ := m.Schedule(0, j)
	if d1 != d2 {
		t.Errorf("Schedule after ClosedLoop: done %v, on a fresh model %v", d2, d1)
	}
}
