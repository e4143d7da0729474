package driver

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/accelq/accelq/ring"
)

const examplePolicy = `{
  "default": {"ops": ["sha256", "crc32c"], "max_contexts": 2, "max_queues": 1,
              "max_registered_bytes": 65536, "max_keys": 2, "max_in_flight": 8},
  "users":  {"1000": {"ops": ["*"], "weight": 4, "max_queues": 4},
             "1001": {"max_keys": 0}},
  "groups": {"100": {"ops": ["nop", "hmac-sha256"]}}
}`

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte(examplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	def := p.Rule(Cred{UID: 5, GID: 5})
	if got := def.Ops(); !slices.Equal(got, []ring.Opcode{ring.OpSHA256, ring.OpCRC32C}) {
		t.Errorf("default ops %v", got)
	}
	if def.MaxContexts != 2 || def.MaxQueues != 1 || def.MaxRegisteredBytes != 65536 || def.MaxKeys != 2 || def.MaxInFlight != 8 {
		t.Errorf("default limits %+v", def)
	}
	if def.Weight != 1 || def.MaxRegions != defaultRule().MaxRegions {
		t.Errorf("default did not inherit built-in limits: %+v", def)
	}
	u := p.Rule(Cred{UID: 1000, GID: 100})
	if !u.AllowsAll() || !u.Allows(ring.OpZstdCompress) || u.Weight != 4 || u.MaxQueues != 4 {
		t.Errorf("uid 1000 rule %+v", u)
	}
	if u.MaxKeys != 2 {
		t.Errorf("uid 1000 did not inherit max_keys from the default: %d", u.MaxKeys)
	}
	if r := p.Rule(Cred{UID: 1001}); r.MaxKeys != 0 || !r.Allows(ring.OpSHA256) || r.Allows(ring.OpNop) {
		t.Errorf("uid 1001 rule %+v", r)
	}
	g := p.Rule(Cred{UID: 7, GID: 100})
	if g.Allows(ring.OpSHA256) || !g.Allows(ring.OpHMACSHA256) || !g.Allows(ring.OpNop) {
		t.Errorf("gid 100 ops %v", g.Ops())
	}
}

func TestParsePolicyErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"default": {"opz": []}}`, `unknown field "opz"`},
		{`{"defaults": {}}`, `unknown field "defaults"`},
		{`{"default": {"ops": ["sha-256"]}}`, `default.ops: unknown operation "sha-256"`},
		{`{"default": {"max_keys": -1}}`, `default.max_keys is -1`},
		{`{"default": {"max_registered_bytes": -1}}`, `max_registered_bytes is -1`},
		{`{"default": {"weight": 0}}`, `default.weight is 0, want 1 to 1024`},
		{`{"default": {"weight": 5000}}`, `weight is 5000`},
		{`{"default": {"max_in_flight": 0}}`, `max_in_flight is 0`},
		{`{"users": {"root": {}}}`, `users: key "root" is not a decimal id`},
		{`{"users": {"01": {}}}`, `key "01"`},
		{`{"groups": {"4294967296": {}}}`, `groups: key "4294967296"`},
		{`{"users": {"5": {"ops": ["nop", "bogus"]}}}`, `users.5.ops: unknown operation "bogus"`},
		{`{} {}`, `data after the policy object`},
		{`{"default": {"max_keys": "3"}}`, `cannot unmarshal string`},
		{`[]`, `cannot unmarshal array`},
		{``, `EOF`},
	} {
		_, err := ParsePolicy([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePolicy(%s): %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestLoadPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(path, []byte(`{"default": {"ops": ["nop"], "bogus": 1}}`), 0o600)
	_, err := LoadPolicy(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("LoadPolicy error %v does not name the file and the field", err)
	}
	os.WriteFile(path, []byte(examplePolicy), 0o600)
	if _, err := LoadPolicy(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPolicy(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadPolicy of a missing file: %v", err)
	}
}

func TestEmptyPolicyAllowsNothing(t *testing.T) {
	p, err := ParsePolicy([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Rule(Cred{}); len(r.Ops()) != 0 {
		t.Fatalf("a policy file without ops allows %v", r.Ops())
	}
}

func TestPolicyAllowlistEnforced(t *testing.T) {
	p, err := ParsePolicy([]byte(`{"default": {"ops": ["sha256", "aes-gcm-seal"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	d := New(newFakeDevice(), p)
	c := openCtx(t, d, 1000)
	if !c.space.Allowed(ring.OpSHA256) {
		t.Error("sha256 listed but refused")
	}
	for _, o := range []ring.Opcode{ring.OpNop, ring.OpHMACSHA256, ring.OpZstdCompress, ring.Opcode(0xff)} {
		if c.space.Allowed(o) {
			t.Errorf("%v not listed but allowed", o)
		}
	}
	// Info: device ops (nop, sha256, hmac-sha256) ∩ allowlist (sha256, aes-gcm-seal).
	info := c.Info()
	if !slices.Equal(info.Ops, []ring.Opcode{ring.OpSHA256}) {
		t.Errorf("Info ops %v, want [sha256]", info.Ops)
	}
	if len(info.Device.Ops) != 3 {
		t.Errorf("Info device ops %v", info.Device.Ops)
	}
}

func TestPolicyRoundTrip(t *testing.T) {
	p, err := ParsePolicy([]byte(examplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParsePolicy(b)
	if err != nil {
		t.Fatalf("reparsing %s: %v", b, err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip changed the policy:\n%+v\n%+v", p, q)
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(examplePolicy))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"default": {"ops": ["*"], "weight": 1024}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			if p != nil {
				t.Fatal("policy and error both returned")
			}
			return
		}
		rules := []Rule{p.Default}
		for _, r := range p.Users {
			rules = append(rules, r)
		}
		for _, r := range p.Groups {
			rules = append(rules, r)
		}
		for _, r := range rules {
			if r.Weight < 1 || r.Weight > MaxWeight || r.MaxInFlight < 1 || r.MaxContexts < 0 ||
				r.MaxQueues < 0 || r.MaxRegions < 0 || r.MaxKeys < 0 || r.MaxRegisteredBytes < 0 {
				t.Fatalf("accepted rule out of range: %+v", r)
			}
			for _, o := range r.Ops() {
				if !o.Valid() {
					t.Fatalf("rule allows undefined opcode %v", o)
				}
			}
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePolicy(b)
		if err != nil {
			t.Fatalf("reparsing %s: %v", b, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip changed the policy")
		}
	})
}

func TestRuleInCode(t *testing.T) {
	p := &Policy{Default: defaultRule()}
	p.Default.Allow(ring.OpSHA256, ring.Opcode(0xff))
	r := p.Rule(Cred{UID: 9})
	if !slices.Equal(r.Ops(), []ring.Opcode{ring.OpSHA256}) {
		t.Fatalf("ops %v", r.Ops())
	}
	r.AllowAll()
	if !r.AllowsAll() || len(r.Ops()) != len(ring.Opcodes()) {
		t.Fatalf("AllowAll gave %v", r.Ops())
	}
	if _, err := json.Marshal(p); err != nil {
		t.Fatal(err)
	}
}
