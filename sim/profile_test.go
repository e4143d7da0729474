package sim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accelq/accelq/ring"
)

func TestProfilesBuiltin(t *testing.T) {
	want := []string{"bluefield3", "iaa", "ideal", "kunpeng920", "qat-gen2", "qat-gen4"}
	if got := Profiles(); !slices.Equal(got, want) {
		t.Fatalf("Profiles() = %v, want %v", got, want)
	}
	for _, name := range want {
		p, err := LoadProfile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Name != name || p.Description == "" {
			t.Errorf("%s: name %q, description %q", name, p.Name, p.Description)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if p.Faults != (Faults{}) {
			t.Errorf("%s: built-in profile injects faults: %+v", name, p.Faults)
		}
		checkSources(t, p)
	}
}

// checkSources: every figure of a built-in profile says where it comes from, and
// a figure whose source calls it an estimate ("E...") is flagged as one.
func checkSources(t *testing.T, p *Profile) {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if _, isFigure := m["value"]; isFigure {
			src, _ := m["source"].(string)
			est, _ := m["estimate"].(bool)
			switch {
			case src == "":
				t.Errorf("%s: %s has no source", p.Name, path)
			case (src == "E" || strings.HasPrefix(src, "E:")) && !est:
				t.Errorf("%s: %s is sourced as an estimate (%q) but not flagged", p.Name, path, src)
			}
			return
		}
		for k, x := range m {
			walk(path+"."+k, x)
		}
	}
	var top map[string]any
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	for k, v := range top {
		walk(k, v)
	}
}

func TestProfileOps(t *testing.T) {
	has := func(name string, ops ...ring.Opcode) {
		t.Helper()
		p, _ := LoadProfile(name)
		for _, o := range ops {
			if !p.Supports(o) {
				t.Errorf("%s lacks %v", name, o)
			}
		}
	}
	lacks := func(name string, ops ...ring.Opcode) {
		t.Helper()
		p, _ := LoadProfile(name)
		for _, o := range ops {
			if p.Supports(o) {
				t.Errorf("%s offers %v", name, o)
			}
		}
	}
	all := ring.Opcodes()[1:] // every operation but nop
	has("ideal", all...)
	has("qat-gen4", ring.OpZstdCompress, ring.OpChaCha20Poly1305Seal, ring.OpRSASignPSS, ring.OpAESXTSEncrypt)
	lacks("qat-gen4", ring.OpZstdDecompress)
	lacks("qat-gen2", ring.OpZstdCompress, ring.OpZstdDecompress, ring.OpChaCha20Poly1305Seal)
	lacks("kunpeng920", ring.OpZstdCompress, ring.OpChaCha20Poly1305Open)
	has("bluefield3", ring.OpAESGCMSeal, ring.OpSHA256, ring.OpRSASignPSS, ring.OpDeflateDecompress, ring.OpGzipDecompress)
	lacks("bluefield3", ring.OpDeflateCompress, ring.OpGzipCompress, ring.OpZstdCompress, ring.OpZstdDecompress, ring.OpAESXTSEncrypt)
	has("iaa", ring.OpDeflateCompress, ring.OpZlibCompress, ring.OpGzipCompress, ring.OpDeflateDecompress, ring.OpZlibDecompress, ring.OpGzipDecompress)
	lacks("iaa", ring.OpZstdCompress, ring.OpZstdDecompress, ring.OpCRC32C, ring.OpAESGCMSeal, ring.OpRSASignPSS)
	p, _ := LoadProfile("iaa")
	if p.Engines[ring.ClassSymmetric] != 0 || p.Engines[ring.ClassAsymmetric] != 0 {
		t.Errorf("iaa has crypto engines: %v", p.Engines)
	}
}

func TestLoadProfileIndependentCopies(t *testing.T) {
	a, _ := LoadProfile("qat-gen2")
	a.Ops[0] = ring.OpNop
	a.Engines[ring.ClassAsymmetric] = 1
	a.Latency["default"] = time.Hour
	a.Rate["compress"] = 1e9
	a.Cost["rsa-sign"][2048] = time.Hour
	a.Sources["max_depth"] = Source{Text: "changed"}
	a.Faults.ErrorRate = 1
	b, _ := LoadProfile("qat-gen2")
	if b.Ops[0] == ring.OpNop || b.Engines[ring.ClassAsymmetric] != 10 || b.Latency["default"] == time.Hour ||
		b.Rate["compress"] == 1e9 || b.Cost["rsa-sign"][2048] == time.Hour || b.Sources["max_depth"].Text == "changed" ||
		b.Faults.ErrorRate != 0 {
		t.Error("a change to one loaded profile shows in the next")
	}
	if _, err := LoadProfile("qat-gen9"); err == nil || !strings.Contains(err.Error(), "qat-gen4") {
		t.Errorf("unknown profile: %v (want the error to list the built-ins)", err)
	}
}

func TestProfileRoundTrip(t *testing.T) {
	for _, name := range Profiles() {
		p, _ := LoadProfile(name)
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		q, err := ParseProfile(data)
		if err != nil {
			t.Fatalf("%s: re-parse: %v\n%s", name, err, data)
		}
		if !reflect.DeepEqual(p, q) {
			t.Errorf("%s: round trip changed the profile:\n%+v\n%+v", name, p, q)
		}
	}
	// A profile with faults round-trips too.
	p, _ := LoadProfile("iaa")
	p.Faults = Faults{Seed: 7, ErrorRate: 0.01, StallRate: 0.5, Stall: 25 * time.Microsecond, ResetRate: 1e-6}
	data, _ := json.Marshal(p)
	q, err := ParseProfile(data)
	if err != nil || !reflect.DeepEqual(p, q) {
		t.Errorf("faults round trip: %v\n%+v\n%+v", err, p.Faults, q.Faults)
	}
}

func TestReadProfileFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "mine.json")
	if err := os.WriteFile(name, []byte(minimalProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := ReadProfileFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "mine" || !p.Supports(ring.OpAESGCMSeal) || p.Supports(ring.OpSHA256) {
		t.Errorf("read %+v", p)
	}
	// Bare numbers are figures without a source.
	if p.Engines[ring.ClassSymmetric] != 2 || p.Link.Setup != 500*time.Nanosecond || p.Cost["rsa-sign"][2048] != 100*time.Microsecond {
		t.Errorf("figures: engines %v, link %+v, cost %v", p.Engines, p.Link, p.Cost)
	}
	if p.Sources["max_depth"].Text != "mine" || !p.Sources["max_depth"].Estimate {
		t.Errorf("source of max_depth: %+v", p.Sources["max_depth"])
	}
	if _, err := ReadProfileFile(filepath.Join(t.TempDir(), "absent.json")); err == nil {
		t.Error("reading a missing file succeeded")
	}
	os.WriteFile(name, []byte(`{"name": "mine"}`), 0o644)
	if _, err := ReadProfileFile(name); err == nil || !strings.Contains(err.Error(), name) {
		t.Errorf("bad file: %v (want its name in the error)", err)
	}
}

const minimalProfile = `{
  "name": "mine",
  "ops": ["aes-gcm-seal", "deflate-compress", "rsa-sign-pss"],
  "engines": {"symmetric": 2, "asymmetric": 1, "compression": 1},
  "max_queues": 4,
  "max_depth": {"value": 64, "source": "mine", "estimate": true},
  "latency_us": {"default": 1},
  "rate_gbyte_per_s": {"symmetric": 1, "compression": 1},
  "asym_cost_us": {"rsa-sign": {"2048": 100}},
  "link": {"gbyte_per_s": 10, "setup_us": 0.5, "ns_per_byte": 0.29}
}`

func TestParseProfileRejects(t *testing.T) {
	if _, err := ParseProfile([]byte(minimalProfile)); err != nil {
		t.Fatalf("the base profile: %v", err)
	}
	cases := []struct {
		name   string
		edit   func(m map[string]any)
		raw    string // instead of edit
		errHas string
	}{
		{"unknown field", func(m map[string]any) { m["engine_count"] = 3 }, "", `unknown field "engine_count"`},
		{"unknown field in figure", func(m map[string]any) { m["max_queues"] = map[string]any{"value": 4, "sorce": "x"} }, "", `max_queues: json: unknown field "sorce"`},
		{"unknown field in link", func(m map[string]any) { subMap(m, "link")["bandwidth"] = 1 }, "", `unknown field "bandwidth"`},
		{"unknown field in faults", func(m map[string]any) { m["faults"] = map[string]any{"error": 0.1} }, "", `unknown field "error"`},
		{"unknown op", func(m map[string]any) { m["ops"] = []any{"aes-gcm-seal", "aes-ocb-seal"} }, "", `ops: unknown operation "aes-ocb-seal"`},
		{"duplicate op", func(m map[string]any) { m["ops"] = []any{"aes-gcm-seal", "aes-gcm-seal"} }, "", `ops: "aes-gcm-seal" listed twice`},
		{"no ops", func(m map[string]any) { m["ops"] = []any{} }, "", `ops: no operations`},
		{"no name", func(m map[string]any) { delete(m, "name") }, "", `name: missing`},
		{"negative rate", func(m map[string]any) { subMap(m, "rate_gbyte_per_s")["symmetric"] = -1 }, "", `rate_gbyte_per_s.symmetric: rate must be positive`},
		{"zero rate", func(m map[string]any) { subMap(m, "rate_gbyte_per_s")["compression"] = 0 }, "", `rate_gbyte_per_s.compression: rate must be positive`},
		{"rate as string", func(m map[string]any) { subMap(m, "rate_gbyte_per_s")["symmetric"] = "fast" }, "", `rate_gbyte_per_s.symmetric: json: cannot unmarshal string`},
		{"unknown rate key", func(m map[string]any) { subMap(m, "rate_gbyte_per_s")["aes"] = 1 }, "", `rate_gbyte_per_s: unknown key "aes"`},
		{"missing rate", func(m map[string]any) { delete(subMap(m, "rate_gbyte_per_s"), "compression") }, "", `rate_gbyte_per_s: no rate for "deflate-compress"`},
		{"missing latency", func(m map[string]any) { m["latency_us"] = map[string]any{"symmetric": 1, "asymmetric": 1} }, "", `latency_us: no entry for "deflate-compress"`},
		{"negative latency", func(m map[string]any) { subMap(m, "latency_us")["default"] = -1 }, "", `latency_us.default: negative time`},
		{"negative setup", func(m map[string]any) { m["engine_setup_us"] = map[string]any{"symmetric": -0.1} }, "", `engine_setup_us.symmetric: negative time`},
		{"missing cost", func(m map[string]any) { delete(m, "asym_cost_us") }, "", `asym_cost_us: no table for "rsa-sign-pss"`},
		{"cost key not bits", func(m map[string]any) { subMap(m, "asym_cost_us")["rsa-sign"] = map[string]any{"rsa2048": 100} }, "", `asym_cost_us.rsa-sign: key size "rsa2048" is not a number of bits`},
		{"zero cost", func(m map[string]any) { subMap(m, "asym_cost_us")["rsa-sign"] = map[string]any{"2048": 0} }, "", `asym_cost_us.rsa-sign.2048: cost must be positive`},
		{"empty cost table", func(m map[string]any) { subMap(m, "asym_cost_us")["rsa-sign"] = map[string]any{} }, "", `asym_cost_us.rsa-sign: empty table`},
		{"zero engines for listed ops", func(m map[string]any) { subMap(m, "engines")["compression"] = 0 }, "", `engines.compression: zero engines, but ops lists compression operations`},
		{"missing class engines", func(m map[string]any) { delete(subMap(m, "engines"), "asymmetric") }, "", `engines.asymmetric: zero engines`},
		{"negative engines", func(m map[string]any) { subMap(m, "engines")["symmetric"] = -2 }, "", `engines.symmetric: -2 is not in`},
		{"fractional engines", func(m map[string]any) { subMap(m, "engines")["symmetric"] = 2.5 }, "", `engines.symmetric: 2.5 is not an integer`},
		{"unknown class", func(m map[string]any) { subMap(m, "engines")["gpu"] = 1 }, "", `engines: unknown class "gpu"`},
		{"fault rate above 1", func(m map[string]any) { m["faults"] = map[string]any{"error_rate": 1.5} }, "", `faults.error_rate: 1.5 is not a probability`},
		{"negative fault rate", func(m map[string]any) { m["faults"] = map[string]any{"reset_rate": -0.1} }, "", `faults.reset_rate: -0.1 is not a probability`},
		{"negative stall", func(m map[string]any) { m["faults"] = map[string]any{"stall_rate": 0.1, "stall_us": -5} }, "", `faults.stall_us`},
		{"depth not a power of two", func(m map[string]any) { m["max_depth"] = 100 }, "", `max_depth: 100 is not a power of two`},
		{"depth too large", func(m map[string]any) { m["max_depth"] = ring.MaxEntries * 2 }, "", `max_depth: 2097152 is not a power of two in [1, 1048576]`},
		{"depth zero", func(m map[string]any) { m["max_depth"] = 0 }, "", `max_depth: 0 is not a power of two`},
		{"missing depth", func(m map[string]any) { delete(m, "max_depth") }, "", `max_depth: missing`},
		{"zero queues", func(m map[string]any) { m["max_queues"] = 0 }, "", `max_queues: 0 is not in`},
		{"negative bandwidth", func(m map[string]any) { subMap(m, "link")["gbyte_per_s"] = -1 }, "", `link.gbyte_per_s: bandwidth must be finite and not negative`},
		{"negative per-byte", func(m map[string]any) { subMap(m, "link")["ns_per_byte"] = -0.1 }, "", `link.ns_per_byte`},
		{"host speed with timing", func(m map[string]any) { m["host_speed"] = true }, "", `host_speed: a host-speed profile takes no timing figures`},
		{"not an object", nil, `[1, 2]`, `cannot unmarshal array`},
		{"trailing data", nil, minimalProfile + `{}`, `trailing data`},
		{"NaN is not JSON", nil, strings.Replace(minimalProfile, `"symmetric": 1,`, `"symmetric": NaN,`, 1), `invalid character 'N'`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.raw)
			if tc.edit != nil {
				var m map[string]any
				if err := json.Unmarshal([]byte(minimalProfile), &m); err != nil {
					t.Fatal(err)
				}
				tc.edit(m)
				data, _ = json.Marshal(m)
			}
			p, err := ParseProfile(data)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !strings.Contains(err.Error(), tc.errHas) || !strings.HasPrefix(err.Error(), "sim: profile: ") {
				t.Errorf("error %q, want it to contain %q", err, tc.errHas)
			}
		})
	}
}

func subMap(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

// TestProfileValidateGoBuilt: profiles built in Go are validated too, NaN included.
func TestProfileValidateGoBuilt(t *testing.T) {
	p, _ := LoadProfile("qat-gen4")
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		edit   func(p *Profile)
		errHas string
	}{
		{"NaN rate", func(p *Profile) { p.Rate["symmetric"] = nanFloat() }, "rate_gbyte_per_s.symmetric"},
		{"NaN bandwidth", func(p *Profile) { p.Link.Bandwidth = nanFloat() }, "link.gbyte_per_s"},
		{"NaN fault rate", func(p *Profile) { p.Faults.StallRate = nanFloat() }, "faults.stall_rate"},
		{"invalid opcode", func(p *Profile) { p.Ops = append(p.Ops, ring.Opcode(0x3f)) }, "ops: opcode(0x3f) is not an operation"},
		{"engines for class none", func(p *Profile) { p.Engines[ring.ClassNone] = 1 }, `engines: class "none"`},
	} {
		q := p.Clone()
		c.edit(q)
		if err := q.Validate(); err == nil || !strings.Contains(err.Error(), c.errHas) {
			t.Errorf("%s: %v, want an error about %s", c.name, err, c.errHas)
		}
	}
}

func nanFloat() float64 { var z float64; return z / z }

// TestProfileLookupOrder: operation beats group beats class beats default.
func TestProfileLookupOrder(t *testing.T) {
	table := map[string]int{"default": 1, "symmetric": 2, "aes-gcm": 3, "aes-gcm-open": 4}
	for _, c := range []struct {
		op   ring.Opcode
		want int
	}{{ring.OpAESGCMOpen, 4}, {ring.OpAESGCMSeal, 3}, {ring.OpSHA256, 2}, {ring.OpDeflateCompress, 1}, {ring.OpNop, 1}} {
		if v, _, _ := lookupTiming(table, c.op); v != c.want {
			t.Errorf("%v: got %d, want %d", c.op, v, c.want)
		}
	}
}
