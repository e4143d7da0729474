package sim

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accelq/accelq/ring"
)

// Profile is a device profile: what the device can do and how fast. Built-in
// profiles are JSON files in sim/profiles, each figure with its source beside it;
// users may load their own files in the same format with ParseProfile.
//
// The timing tables (Latency, EngineSetup, Rate, Cost) are keyed by name, and a
// job takes the most specific entry that exists:
//
//  1. the operation's name, such as "aes-gcm-seal";
//  2. its group, if it has one: "aes-gcm", "chacha20-poly1305", "aes-xts",
//     "rsa-sign" (PSS and PKCS #1 v1.5 signing, and OAEP decryption, which is the
//     same private-key exponentiation), "rsa-verify", "compress", "decompress";
//  3. its engine class: "symmetric", "asymmetric" or "compression";
//  4. "default".
//
// See model.go for what each figure means to the timing model.
type Profile struct {
	Name        string
	Description string
	Ops         []ring.Opcode        // supported operations
	Engines     [ring.NumClasses]int // engines per class (ClassNone unused)
	MaxQueues   int                  // queue pairs the device serves at once
	MaxDepth    int                  // largest ring depth accepted, a power of two
	Faults      Faults               // default fault injection (zero for built-in profiles)

	// HostSpeed makes the model never delay a job: completions are limited only by
	// the host computing them. A HostSpeed profile has no timing figures.
	HostSpeed bool

	// Latency is the fixed pipeline latency of a job: doorbell, descriptor fetch,
	// completion write. It occupies no engine and no link.
	Latency map[string]time.Duration
	// EngineSetup is engine time every job costs besides its bytes (key schedule,
	// hash state, compressor reset). Optional; missing means zero.
	EngineSetup map[string]time.Duration
	// Rate is one engine's throughput for symmetric and compression operations,
	// in bytes per nanosecond, which is GB/s (10^9 bytes per second).
	Rate map[string]float64
	// Cost is the engine time of one asymmetric operation by key size in bits
	// (RSA modulus, curve size; 256 for Ed25519 and X25519).
	Cost map[string]map[int]time.Duration
	// Link is the device's DMA link to host memory.
	Link Link

	// Sources says where each figure comes from, keyed by its JSON path, such as
	// "engines.asymmetric", "latency_us.default", "asym_cost_us.rsa-sign.2048" or
	// "link.gbyte_per_s".
	Sources map[string]Source
}

// Link is the DMA link between the device and host memory (PCIe for a card, the
// on-die fabric for an integrated device). It is full duplex: input and output
// each have Bandwidth of their own.
type Link struct {
	Bandwidth float64       // bytes per nanosecond (GB/s) each way; 0: no bandwidth cap
	Setup     time.Duration // latency of a DMA read before its first byte arrives (pipelined)
	PerByte   float64       // nanoseconds per byte of one DMA read stream (pipelined); 0: none
}

// Source is the provenance of one figure.
type Source struct {
	Text     string // where the figure comes from, or how it was derived
	Estimate bool   // the figure is our estimate ("E" in DESIGN.md), not a published number
}

// Faults configures seeded fault injection.
type Faults struct {
	Seed      int64         // 0: a fixed default seed
	ErrorRate float64       // probability that a job completes with StatusDeviceError
	StallRate float64       // probability that an engine stalls before a job
	Stall     time.Duration // how long a stall lasts
	ResetRate float64       // probability per job that the whole device resets
}

// Validate checks that every probability is in [0, 1] and the stall is not negative.
func (f Faults) Validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"error_rate", f.ErrorRate}, {"stall_rate", f.StallRate}, {"reset_rate", f.ResetRate}} {
		if math.IsNaN(r.v) || r.v < 0 || r.v > 1 {
			return fmt.Errorf("faults.%s: %v is not a probability in [0, 1]", r.name, r.v)
		}
	}
	if f.Stall < 0 {
		return fmt.Errorf("faults.stall_us: negative stall %v", f.Stall)
	}
	return nil
}

// Supports reports whether the profile lists op.
func (p *Profile) Supports(op ring.Opcode) bool { return slices.Contains(p.Ops, op) }

// Limits of a profile, beyond which a file is surely wrong.
const (
	profileMaxEngines = 1 << 20
	profileMaxQueues  = 1 << 16
	profileMaxKeyBits = 16384
)

// Keys of the timing tables besides operation names.
const keyDefault = "default"

// timingGroups are the group keys of the timing tables.
var timingGroups = map[string][]ring.Opcode{
	"aes-gcm":           {ring.OpAESGCMSeal, ring.OpAESGCMOpen},
	"chacha20-poly1305": {ring.OpChaCha20Poly1305Seal, ring.OpChaCha20Poly1305Open},
	"aes-xts":           {ring.OpAESXTSEncrypt, ring.OpAESXTSDecrypt},
	"rsa-sign":          {ring.OpRSASignPSS, ring.OpRSASignPKCS1v15, ring.OpRSADecryptOAEP},
	"rsa-verify":        {ring.OpRSAVerifyPSS, ring.OpRSAVerifyPKCS1v15},
	"compress":          {ring.OpDeflateCompress, ring.OpZlibCompress, ring.OpGzipCompress, ring.OpZstdCompress},
	"decompress":        {ring.OpDeflateDecompress, ring.OpZlibDecompress, ring.OpGzipDecompress, ring.OpZstdDecompress},
}

// timingGroupOf maps an operation to its group key.
var timingGroupOf = func() map[ring.Opcode]string {
	m := make(map[ring.Opcode]string)
	for g, ops := range timingGroups {
		for _, o := range ops {
			m[o] = g
		}
	}
	return m
}()

// timingKeys returns the keys a job of op looks up, most specific first.
func timingKeys(op ring.Opcode) []string {
	keys := []string{op.String()}
	if g, ok := timingGroupOf[op]; ok {
		keys = append(keys, g)
	}
	if c, _ := op.Class(); c != ring.ClassNone {
		keys = append(keys, c.String())
	}
	return append(keys, keyDefault)
}

// lookup returns the most specific entry of table for op, and the key it found.
func lookupTiming[V any](table map[string]V, op ring.Opcode) (v V, key string, ok bool) {
	for _, k := range timingKeys(op) {
		if v, ok := table[k]; ok {
			return v, k, true
		}
	}
	return v, "", false
}

// validTimingKey reports whether k may key a timing table.
func validTimingKey(k string) bool {
	if k == keyDefault {
		return true
	}
	if _, ok := timingGroups[k]; ok {
		return true
	}
	for c := ring.ClassSymmetric; c < ring.NumClasses; c++ {
		if k == c.String() {
			return true
		}
	}
	_, err := ring.ParseOpcode(k)
	return err == nil
}

func parseClassName(name string) (ring.Class, bool) {
	for c := ring.ClassSymmetric; c < ring.NumClasses; c++ {
		if name == c.String() {
			return c, true
		}
	}
	return 0, false
}

// Validate checks a profile. Errors name the offending field by its JSON path.
func (p *Profile) Validate() error {
	if p.Name == "" {
		return errors.New("name: missing")
	}
	if len(p.Ops) == 0 {
		return errors.New("ops: no operations")
	}
	var used [ring.NumClasses]bool
	seen := make(map[ring.Opcode]bool, len(p.Ops))
	for _, o := range p.Ops {
		c, ok := o.Class()
		if !ok {
			return fmt.Errorf("ops: %v is not an operation", o)
		}
		if seen[o] {
			return fmt.Errorf("ops: %q listed twice", o)
		}
		seen[o] = true
		used[c] = true
	}
	if p.Engines[ring.ClassNone] != 0 {
		return errors.New("engines: class \"none\" has no engines")
	}
	for c := ring.ClassSymmetric; c < ring.NumClasses; c++ {
		n := p.Engines[c]
		switch {
		case n < 0 || n > profileMaxEngines:
			return fmt.Errorf("engines.%s: %d is not in [0, %d]", c, n, profileMaxEngines)
		case n == 0 && used[c]:
			return fmt.Errorf("engines.%s: zero engines, but ops lists %s operations", c, c)
		}
	}
	if p.MaxQueues < 1 || p.MaxQueues > profileMaxQueues {
		return fmt.Errorf("max_queues: %d is not in [1, %d]", p.MaxQueues, profileMaxQueues)
	}
	if p.MaxDepth < 1 || p.MaxDepth > ring.MaxEntries || bits.OnesCount(uint(p.MaxDepth)) != 1 {
		return fmt.Errorf("max_depth: %d is not a power of two in [1, %d]", p.MaxDepth, ring.MaxEntries)
	}
	if err := p.Faults.Validate(); err != nil {
		return err
	}
	if p.HostSpeed {
		if len(p.Latency) != 0 || len(p.EngineSetup) != 0 || len(p.Rate) != 0 || len(p.Cost) != 0 || p.Link != (Link{}) {
			return errors.New("host_speed: a host-speed profile takes no timing figures (latency_us, engine_setup_us, rate_gbyte_per_s, asym_cost_us, link)")
		}
		return nil
	}
	for _, d := range []struct {
		field string
		m     map[string]time.Duration
	}{{"latency_us", p.Latency}, {"engine_setup_us", p.EngineSetup}} {
		for k, v := range d.m {
			if !validTimingKey(k) {
				return fmt.Errorf("%s: unknown key %q (want an operation, a group, a class or \"default\")", d.field, k)
			}
			if v < 0 {
				return fmt.Errorf("%s.%s: negative time %v", d.field, k, v)
			}
		}
	}
	for k, v := range p.Rate {
		if !validTimingKey(k) {
			return fmt.Errorf("rate_gbyte_per_s: unknown key %q (want an operation, a group, a class or \"default\")", k)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			return fmt.Errorf("rate_gbyte_per_s.%s: rate must be positive and finite, got %v", k, v)
		}
	}
	for k, table := range p.Cost {
		if !validTimingKey(k) {
			return fmt.Errorf("asym_cost_us: unknown key %q (want an operation, a group, a class or \"default\")", k)
		}
		if len(table) == 0 {
			return fmt.Errorf("asym_cost_us.%s: empty table", k)
		}
		for b, v := range table {
			if b < 1 || b > profileMaxKeyBits {
				return fmt.Errorf("asym_cost_us.%s: key size %d is not in [1, %d]", k, b, profileMaxKeyBits)
			}
			if v <= 0 {
				return fmt.Errorf("asym_cost_us.%s.%d: cost must be positive, got %v", k, b, v)
			}
		}
	}
	l := p.Link
	if math.IsNaN(l.Bandwidth) || math.IsInf(l.Bandwidth, 0) || l.Bandwidth < 0 {
		return fmt.Errorf("link.gbyte_per_s: bandwidth must be finite and not negative, got %v", l.Bandwidth)
	}
	if l.Setup < 0 {
		return fmt.Errorf("link.setup_us: negative time %v", l.Setup)
	}
	if math.IsNaN(l.PerByte) || math.IsInf(l.PerByte, 0) || l.PerByte < 0 {
		return fmt.Errorf("link.ns_per_byte: must be finite and not negative, got %v", l.PerByte)
	}
	// Every listed operation must find its figures.
	for _, o := range p.Ops {
		c, _ := o.Class()
		if c == ring.ClassNone {
			continue
		}
		if _, _, ok := lookupTiming(p.Latency, o); !ok {
			return fmt.Errorf("latency_us: no entry for %q (give it, its group, %q or \"default\")", o, c)
		}
		switch c {
		case ring.ClassAsymmetric:
			if _, _, ok := lookupTiming(p.Cost, o); !ok {
				return fmt.Errorf("asym_cost_us: no table for %q (give it, its group, \"asymmetric\" or \"default\")", o)
			}
		default:
			if _, _, ok := lookupTiming(p.Rate, o); !ok {
				return fmt.Errorf("rate_gbyte_per_s: no rate for %q (give it, its group, %q or \"default\")", o, c)
			}
		}
	}
	return nil
}

// Clone returns a deep copy of p.
func (p *Profile) Clone() *Profile {
	q := *p
	q.Ops = slices.Clone(p.Ops)
	q.Latency = cloneTable(p.Latency)
	q.EngineSetup = cloneTable(p.EngineSetup)
	q.Rate = cloneTable(p.Rate)
	q.Sources = cloneTable(p.Sources)
	if p.Cost != nil {
		q.Cost = make(map[string]map[int]time.Duration, len(p.Cost))
		for k, t := range p.Cost {
			q.Cost[k] = cloneTable(t)
		}
	}
	return &q
}

func cloneTable[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// ---- The file format ----

// A figure is one number with its source:
//
//	{"value": 12, "source": "DESIGN.md: AES-XTS ~12 GB/s per device", "estimate": true}
//
// User files may give a bare number instead. A figure keeps its raw JSON until the
// decoder reads it, so that errors can name the figure's path.
type figure struct {
	Value    float64 `json:"value"`
	Source   string  `json:"source,omitempty"`
	Estimate bool    `json:"estimate,omitempty"`
	raw      json.RawMessage
}

func (f *figure) UnmarshalJSON(b []byte) error {
	f.raw = append(json.RawMessage(nil), b...)
	return nil
}

func (f *figure) decode() error {
	b := bytes.TrimSpace(f.raw)
	if len(b) > 0 && b[0] != '{' {
		return json.Unmarshal(b, &f.Value)
	}
	type plain figure
	var v plain
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&v); err != nil {
		return err
	}
	f.Value, f.Source, f.Estimate = v.Value, v.Source, v.Estimate
	return nil
}

type profileFile struct {
	Name        string                        `json:"name"`
	Description string                        `json:"description,omitempty"`
	Ops         []string                      `json:"ops"`
	HostSpeed   bool                          `json:"host_speed,omitempty"`
	Engines     map[string]*figure            `json:"engines"`
	MaxQueues   *figure                       `json:"max_queues"`
	MaxDepth    *figure                       `json:"max_depth"`
	Latency     map[string]*figure            `json:"latency_us,omitempty"`
	EngineSetup map[string]*figure            `json:"engine_setup_us,omitempty"`
	Rate        map[string]*figure            `json:"rate_gbyte_per_s,omitempty"`
	Cost        map[string]map[string]*figure `json:"asym_cost_us,omitempty"`
	Link        *linkFile                     `json:"link,omitempty"`
	Faults      *faultsFile                   `json:"faults,omitempty"`
}

type linkFile struct {
	Bandwidth *figure `json:"gbyte_per_s,omitempty"`
	Setup     *figure `json:"setup_us,omitempty"`
	PerByte   *figure `json:"ns_per_byte,omitempty"`
}

type faultsFile struct {
	Seed      int64   `json:"seed,omitempty"`
	ErrorRate float64 `json:"error_rate,omitempty"`
	StallRate float64 `json:"stall_rate,omitempty"`
	StallUs   float64 `json:"stall_us,omitempty"`
	ResetRate float64 `json:"reset_rate,omitempty"`
}

// figureDecoder turns figures into profile fields, recording their sources.
type figureDecoder struct{ p *Profile }

func (d figureDecoder) num(path string, f *figure) (float64, error) {
	if f == nil {
		return 0, fmt.Errorf("%s: missing", path)
	}
	if err := f.decode(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if f.Source != "" || f.Estimate {
		d.p.Sources[path] = Source{Text: f.Source, Estimate: f.Estimate}
	}
	return f.Value, nil
}

func (d figureDecoder) count(path string, f *figure) (int, error) {
	v, err := d.num(path, f)
	if err != nil {
		return 0, err
	}
	if v != math.Trunc(v) || math.Abs(v) > 1<<40 {
		return 0, fmt.Errorf("%s: %v is not an integer", path, v)
	}
	return int(v), nil
}

// micros converts a figure in microseconds to a duration, rounded to the nanosecond.
func (d figureDecoder) micros(path string, f *figure) (time.Duration, error) {
	v, err := d.num(path, f)
	if err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, fmt.Errorf("%s: negative time %v us", path, v)
	}
	if v > float64(time.Hour/time.Microsecond) {
		return 0, fmt.Errorf("%s: %v us is more than an hour", path, v)
	}
	return time.Duration(math.Round(v * 1e3)), nil
}

// ParseProfile parses and validates a profile file.
func ParseProfile(data []byte) (*Profile, error) {
	p, err := parseProfile(data)
	if err != nil {
		return nil, fmt.Errorf("sim: profile: %w", err)
	}
	return p, nil
}

func parseProfile(data []byte) (*Profile, error) {
	var f profileFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the profile object")
	}
	p := &Profile{
		Name:        f.Name,
		Description: f.Description,
		HostSpeed:   f.HostSpeed,
		Ops:         make([]ring.Opcode, 0, len(f.Ops)),
		Latency:     map[string]time.Duration{},
		EngineSetup: map[string]time.Duration{},
		Rate:        map[string]float64{},
		Cost:        map[string]map[int]time.Duration{},
		Sources:     map[string]Source{},
	}
	d := figureDecoder{p}
	for _, name := range f.Ops {
		o, err := ring.ParseOpcode(name)
		if err != nil {
			return nil, fmt.Errorf("ops: %w", err)
		}
		p.Ops = append(p.Ops, o)
	}
	if f.Engines == nil {
		return nil, errors.New("engines: missing")
	}
	for name, fig := range f.Engines {
		c, ok := parseClassName(name)
		if !ok {
			return nil, fmt.Errorf("engines: unknown class %q (want symmetric, asymmetric or compression)", name)
		}
		n, err := d.count("engines."+name, fig)
		if err != nil {
			return nil, err
		}
		if n < 0 || n > profileMaxEngines {
			return nil, fmt.Errorf("engines.%s: %d is not in [0, %d]", name, n, profileMaxEngines)
		}
		p.Engines[c] = n
	}
	var err error
	if p.MaxQueues, err = d.count("max_queues", f.MaxQueues); err != nil {
		return nil, err
	}
	if p.MaxDepth, err = d.count("max_depth", f.MaxDepth); err != nil {
		return nil, err
	}
	for _, t := range []struct {
		field string
		in    map[string]*figure
		out   map[string]time.Duration
	}{{"latency_us", f.Latency, p.Latency}, {"engine_setup_us", f.EngineSetup, p.EngineSetup}} {
		for k, fig := range t.in {
			if t.out[k], err = d.micros(t.field+"."+k, fig); err != nil {
				return nil, err
			}
		}
	}
	for k, fig := range f.Rate {
		if p.Rate[k], err = d.num("rate_gbyte_per_s."+k, fig); err != nil {
			return nil, err
		}
	}
	for k, table := range f.Cost {
		t := make(map[int]time.Duration, len(table))
		for bs, fig := range table {
			b, err := strconv.Atoi(bs)
			if err != nil || strconv.Itoa(b) != bs {
				return nil, fmt.Errorf("asym_cost_us.%s: key size %q is not a number of bits", k, bs)
			}
			if t[b], err = d.micros("asym_cost_us."+k+"."+bs, fig); err != nil {
				return nil, err
			}
		}
		p.Cost[k] = t
	}
	if l := f.Link; l != nil {
		if l.Bandwidth != nil {
			if p.Link.Bandwidth, err = d.num("link.gbyte_per_s", l.Bandwidth); err != nil {
				return nil, err
			}
		}
		if l.Setup != nil {
			if p.Link.Setup, err = d.micros("link.setup_us", l.Setup); err != nil {
				return nil, err
			}
		}
		if l.PerByte != nil {
			if p.Link.PerByte, err = d.num("link.ns_per_byte", l.PerByte); err != nil {
				return nil, err
			}
		}
	}
	if ff := f.Faults; ff != nil {
		if math.IsNaN(ff.StallUs) || ff.StallUs < 0 || ff.StallUs > float64(time.Hour/time.Microsecond) {
			return nil, fmt.Errorf("faults.stall_us: %v is not in [0, 1 hour]", ff.StallUs)
		}
		p.Faults = Faults{
			Seed:      ff.Seed,
			ErrorRate: ff.ErrorRate,
			StallRate: ff.StallRate,
			Stall:     time.Duration(math.Round(ff.StallUs * 1e3)),
			ResetRate: ff.ResetRate,
		}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// MarshalJSON writes the profile in the file format ParseProfile reads.
func (p *Profile) MarshalJSON() ([]byte, error) {
	fig := func(path string, v float64) *figure {
		s := p.Sources[path]
		return &figure{Value: v, Source: s.Text, Estimate: s.Estimate}
	}
	us := func(path string, d time.Duration) *figure { return fig(path, float64(d)/1e3) }
	f := profileFile{
		Name:        p.Name,
		Description: p.Description,
		HostSpeed:   p.HostSpeed,
		Ops:         make([]string, len(p.Ops)),
		Engines:     map[string]*figure{},
		MaxQueues:   fig("max_queues", float64(p.MaxQueues)),
		MaxDepth:    fig("max_depth", float64(p.MaxDepth)),
	}
	for i, o := range p.Ops {
		f.Ops[i] = o.String()
	}
	for c := ring.ClassSymmetric; c < ring.NumClasses; c++ {
		if n := p.Engines[c]; n != 0 {
			f.Engines[c.String()] = fig("engines."+c.String(), float64(n))
		}
	}
	durs := func(field string, m map[string]time.Duration) map[string]*figure {
		if len(m) == 0 {
			return nil
		}
		out := make(map[string]*figure, len(m))
		for k, d := range m {
			out[k] = us(field+"."+k, d)
		}
		return out
	}
	f.Latency = durs("latency_us", p.Latency)
	f.EngineSetup = durs("engine_setup_us", p.EngineSetup)
	if len(p.Rate) > 0 {
		f.Rate = make(map[string]*figure, len(p.Rate))
		for k, v := range p.Rate {
			f.Rate[k] = fig("rate_gbyte_per_s."+k, v)
		}
	}
	if len(p.Cost) > 0 {
		f.Cost = make(map[string]map[string]*figure, len(p.Cost))
		for k, t := range p.Cost {
			out := make(map[string]*figure, len(t))
			for b, d := range t {
				bs := strconv.Itoa(b)
				out[bs] = us("asym_cost_us."+k+"."+bs, d)
			}
			f.Cost[k] = out
		}
	}
	if l := p.Link; l != (Link{}) {
		f.Link = &linkFile{}
		if l.Bandwidth != 0 {
			f.Link.Bandwidth = fig("link.gbyte_per_s", l.Bandwidth)
		}
		if l.Setup != 0 {
			f.Link.Setup = us("link.setup_us", l.Setup)
		}
		if l.PerByte != 0 {
			f.Link.PerByte = fig("link.ns_per_byte", l.PerByte)
		}
	}
	if p.Faults != (Faults{}) {
		f.Faults = &faultsFile{
			Seed:      p.Faults.Seed,
			ErrorRate: p.Faults.ErrorRate,
			StallRate: p.Faults.StallRate,
			StallUs:   float64(p.Faults.Stall) / 1e3,
			ResetRate: p.Faults.ResetRate,
		}
	}
	return json.MarshalIndent(f, "", "  ")
}

// ReadProfileFile reads and validates a profile file.
func ReadProfileFile(name string) (*Profile, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	p, err := parseProfile(data)
	if err != nil {
		return nil, fmt.Errorf("sim: profile %s: %w", name, err)
	}
	return p, nil
}

// ---- Built-in profiles ----

//go:embed profiles/*.json
var profileFS embed.FS

// builtinProfiles parses the embedded profiles on first use. They are tested, so a
// failure is a build defect and panics.
var builtinProfiles = sync.OnceValue(func() map[string]*Profile {
	entries, err := profileFS.ReadDir("profiles")
	if err != nil {
		panic(err)
	}
	m := make(map[string]*Profile, len(entries))
	for _, e := range entries {
		data, err := profileFS.ReadFile(path.Join("profiles", e.Name()))
		if err != nil {
			panic(err)
		}
		p, err := parseProfile(data)
		if err != nil {
			panic(fmt.Sprintf("sim: built-in profile %s: %v", e.Name(), err))
		}
		if want := strings.TrimSuffix(e.Name(), ".json"); p.Name != want {
			panic(fmt.Sprintf("sim: built-in profile %s is named %q", e.Name(), p.Name))
		}
		m[p.Name] = p
	}
	return m
})

// Profiles returns the names of the built-in profiles, sorted.
func Profiles() []string {
	names := make([]string, 0, len(builtinProfiles()))
	for n := range builtinProfiles() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LoadProfile returns a built-in profile by name, a fresh copy on each call.
func LoadProfile(name string) (*Profile, error) {
	p, ok := builtinProfiles()[name]
	if !ok {
		return nil, fmt.Errorf("sim: no built-in profile %q (have %s)", name, strings.Join(Profiles(), ", "))
	}
	return p.Clone(), nil
}
