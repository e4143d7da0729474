package driver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/accelq/accelq/ring"
)

// MaxWeight bounds a queue's arbitration weight.
const MaxWeight = 1024

// MaxPolicySize bounds a policy file.
const MaxPolicySize = 1 << 20

// Rule is what policy grants one client: the operations it may run and its limits.
// A limit of zero grants nothing of that kind (max_contexts 0 shuts a uid out).
type Rule struct {
	ops                opSet
	all                bool  // the allowlist was "*"
	MaxContexts        int   // open contexts per uid
	MaxQueues          int   // queue pairs per context
	MaxRegions         int   // registered regions per context (each costs the driver a descriptor and a mapping)
	MaxRegisteredBytes int64 // registered memory per context, in bytes
	MaxKeys            int   // key slots per context
	MaxInFlight        int   // accepted and uncompleted jobs per context, over all its queues, >= 1
	Weight             int   // the context's share of each engine class against other contexts, and the largest weight a queue may have; 1 to MaxWeight
}

// opSet is a set of opcodes, one bit each.
type opSet [4]uint64

func (s *opSet) add(o ring.Opcode)      { s[o/64] |= 1 << (o % 64) }
func (s *opSet) has(o ring.Opcode) bool { return s[o/64]&(1<<(o%64)) != 0 }

// Allows reports whether the rule lets a client run op.
func (r *Rule) Allows(op ring.Opcode) bool { return r.ops.has(op) }

// AllowsAll reports whether the allowlist is the "*" wildcard.
func (r *Rule) AllowsAll() bool { return r.all }

// Allow adds operations to the rule's allowlist, for policies built in code.
func (r *Rule) Allow(ops ...ring.Opcode) {
	for _, o := range ops {
		if o.Valid() {
			r.ops.add(o)
		}
	}
}

// AllowAll makes the rule's allowlist the "*" wildcard.
func (r *Rule) AllowAll() { r.allowAll() }

func (r *Rule) allowAll() {
	r.all = true
	for _, o := range ring.Opcodes() {
		r.ops.add(o)
	}
}

// Ops returns the operations the rule allows, in numeric order.
func (r *Rule) Ops() []ring.Opcode {
	var ops []ring.Opcode
	for _, o := range ring.Opcodes() {
		if r.ops.has(o) {
			ops = append(ops, o)
		}
	}
	return ops
}

// defaultRule is the built-in rule: every limit a policy file leaves out comes
// from here. Its allowlist is empty; DefaultPolicy allows everything.
func defaultRule() Rule {
	return Rule{
		MaxContexts:        64,
		MaxQueues:          16,
		MaxRegions:         4096,
		MaxRegisteredBytes: 1 << 30,
		MaxKeys:            1024,
		MaxInFlight:        1024,
		Weight:             1,
	}
}

// Policy maps client credentials to rules. Rules are chosen by uid, then by the
// primary gid, then Default. A policy must not change once a Driver uses it.
type Policy struct {
	Default Rule
	Users   map[uint32]Rule
	Groups  map[uint32]Rule
}

// DefaultPolicy allows every operation to everyone, with the built-in limits. It
// is what a Driver uses without a policy; tests and embedded tools use it.
func DefaultPolicy() *Policy {
	r := defaultRule()
	r.allowAll()
	return &Policy{Default: r, Users: map[uint32]Rule{}, Groups: map[uint32]Rule{}}
}

// Rule returns the rule for a client.
func (p *Policy) Rule(c Cred) Rule {
	if r, ok := p.Users[c.UID]; ok {
		return r
	}
	if r, ok := p.Groups[c.GID]; ok {
		return r
	}
	return p.Default
}

// ruleJSON is a rule as written in a policy file. Absent fields inherit: the
// default entry from the built-in rule, user and group entries from the default
// entry.
type ruleJSON struct {
	Ops                *[]string `json:"ops,omitempty"`
	MaxContexts        *int      `json:"max_contexts,omitempty"`
	MaxQueues          *int      `json:"max_queues,omitempty"`
	MaxRegions         *int      `json:"max_regions,omitempty"`
	MaxRegisteredBytes *int64    `json:"max_registered_bytes,omitempty"`
	MaxKeys            *int      `json:"max_keys,omitempty"`
	MaxInFlight        *int      `json:"max_in_flight,omitempty"`
	Weight             *int      `json:"weight,omitempty"`
}

type policyJSON struct {
	Default *ruleJSON            `json:"default,omitempty"`
	Users   map[string]*ruleJSON `json:"users,omitempty"`
	Groups  map[string]*ruleJSON `json:"groups,omitempty"`
}

// LoadPolicy reads and parses a policy file.
func LoadPolicy(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("driver: policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("driver: policy %s: %w", path, err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return p, nil
}

// ParsePolicy parses a policy in its JSON form:
//
//	{
//	  "default": {"ops": ["sha256", "aes-gcm-seal"], "max_contexts": 4,
//	              "max_queues": 2, "max_regions": 64, "max_registered_bytes": 67108864,
//	              "max_keys": 16, "max_in_flight": 128, "weight": 1},
//	  "users":  {"1000": {"ops": ["*"], "weight": 4}},
//	  "groups": {"100": {"max_queues": 8}}
//	}
//
// Operation names are those of [ring.Opcode.String]; "*" allows every operation.
// What the allowlist does not name is refused, and an entry without "ops"
// inherits the default's, whose own default is the empty list. Unknown fields,
// unknown operations, negative limits, a max_in_flight below 1 and weights
// outside 1 to MaxWeight are errors.
func ParsePolicy(data []byte) (*Policy, error) {
	if len(data) > MaxPolicySize {
		return nil, fmt.Errorf("driver: policy of %d bytes exceeds %d", len(data), MaxPolicySize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var pj policyJSON
	if err := dec.Decode(&pj); err != nil {
		return nil, fmt.Errorf("driver: policy: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("driver: policy: data after the policy object at byte %d", dec.InputOffset())
	}
	p := &Policy{Users: map[uint32]Rule{}, Groups: map[uint32]Rule{}}
	var err error
	if p.Default, err = pj.Default.apply(defaultRule(), "default"); err != nil {
		return nil, err
	}
	for _, sec := range []struct {
		name string
		in   map[string]*ruleJSON
		out  map[uint32]Rule
	}{{"users", pj.Users, p.Users}, {"groups", pj.Groups, p.Groups}} {
		for k, rj := range sec.in {
			id, err := strconv.ParseUint(k, 10, 32)
			if err != nil || strconv.FormatUint(id, 10) != k {
				return nil, fmt.Errorf("driver: policy: %s: key %q is not a decimal id", sec.name, k)
			}
			r, err := rj.apply(p.Default, sec.name+"."+k)
			if err != nil {
				return nil, err
			}
			sec.out[uint32(id)] = r
		}
	}
	return p, nil
}

// apply returns base with the fields rj sets replaced, validated.
func (rj *ruleJSON) apply(base Rule, where string) (Rule, error) {
	r := base
	if rj == nil {
		return r, nil
	}
	if rj.Ops != nil {
		r.ops, r.all = opSet{}, false
		for _, name := range *rj.Ops {
			if name == "*" {
				r.allowAll()
				continue
			}
			o, err := ring.ParseOpcode(name)
			if err != nil {
				return Rule{}, fmt.Errorf("driver: policy: %s.ops: %w", where, err)
			}
			r.ops.add(o)
		}
		if r.all {
			r.allowAll()
		}
	}
	ints := []struct {
		name string
		in   *int
		out  *int
		min  int
		max  int
	}{
		{"max_contexts", rj.MaxContexts, &r.MaxContexts, 0, 1 << 30},
		{"max_queues", rj.MaxQueues, &r.MaxQueues, 0, 1 << 30},
		{"max_regions", rj.MaxRegions, &r.MaxRegions, 0, 1 << 30},
		{"max_keys", rj.MaxKeys, &r.MaxKeys, 0, 1 << 30},
		{"max_in_flight", rj.MaxInFlight, &r.MaxInFlight, 1, ring.MaxEntries},
		{"weight", rj.Weight, &r.Weight, 1, MaxWeight},
	}
	for _, f := range ints {
		if f.in == nil {
			continue
		}
		if *f.in < f.min || *f.in > f.max {
			return Rule{}, fmt.Errorf("driver: policy: %s.%s is %d, want %d to %d", where, f.name, *f.in, f.min, f.max)
		}
		*f.out = *f.in
	}
	if rj.MaxRegisteredBytes != nil {
		if *rj.MaxRegisteredBytes < 0 {
			return Rule{}, fmt.Errorf("driver: policy: %s.max_registered_bytes is %d, must not be negative", where, *rj.MaxRegisteredBytes)
		}
		r.MaxRegisteredBytes = *rj.MaxRegisteredBytes
	}
	return r, nil
}

func (r *Rule) toJSON() *ruleJSON {
	names := []string{}
	if r.all {
		names = append(names, "*")
	} else {
		for _, o := range r.Ops() {
			names = append(names, o.String())
		}
	}
	return &ruleJSON{
		Ops: &names, MaxContexts: &r.MaxContexts, MaxQueues: &r.MaxQueues, MaxRegions: &r.MaxRegions,
		MaxRegisteredBytes: &r.MaxRegisteredBytes, MaxKeys: &r.MaxKeys,
		MaxInFlight: &r.MaxInFlight, Weight: &r.Weight,
	}
}

// MarshalJSON writes the policy in the file format, every field explicit, so
// that ParsePolicy gives back an equal policy.
func (p *Policy) MarshalJSON() ([]byte, error) {
	pj := policyJSON{Default: p.Default.toJSON(), Users: map[string]*ruleJSON{}, Groups: map[string]*ruleJSON{}}
	for id, r := range p.Users {
		pj.Users[strconv.FormatUint(uint64(id), 10)] = r.toJSON()
	}
	for id, r := range p.Groups {
		pj.Groups[strconv.FormatUint(uint64(id), 10)] = r.toJSON()
	}
	return json.Marshal(pj)
}
