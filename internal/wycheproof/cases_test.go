package wycheproof_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/accelq/accelq/internal/wycheproof"
	"github.com/accelq/accelq/ring"
)

// Every known file loads, every vector is either used or skipped with a reason,
// and the counts agree with the file.
func TestCases(t *testing.T) {
	dir := wycheproof.Require(t)
	for _, f := range wycheproof.Files {
		s, err := wycheproof.Cases(f)
		if err != nil {
			t.Fatal(err)
		}
		var raw struct {
			NumberOfTests int `json:"numberOfTests"`
			TestGroups    []struct {
				Tests []json.RawMessage `json:"tests"`
			} `json:"testGroups"`
		}
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, g := range raw.TestGroups {
			n += len(g.Tests)
		}
		if s.Vectors != n || n != raw.NumberOfTests {
			t.Errorf("%s: %d vectors counted, %d in the file, numberOfTests %d", f, s.Vectors, n, raw.NumberOfTests)
		}
		if s.Used+s.SkippedTotal() != s.Vectors || len(s.Cases) < s.Used {
			t.Errorf("%s: %d used, %d skipped, %d cases, %d vectors", f, s.Used, s.SkippedTotal(), len(s.Cases), s.Vectors)
		}
		for _, c := range s.Cases {
			if c.File != f || !c.Op.Valid() || c.TcID == 0 {
				t.Errorf("%s: malformed case %+v", f, c)
			}
			if c.Result == wycheproof.Acceptable && c.Why == "" {
				t.Errorf("%s: acceptable case without a reason", c.Name())
			}
		}
		t.Logf("%s: %d/%d vectors, %d cases; skipped: %s", f, s.Used, s.Vectors, len(s.Cases), s.SkipSummary())
	}
	if _, err := wycheproof.Cases("no_such_test.json"); err == nil {
		t.Error("unknown file accepted")
	}
}

func TestCheck(t *testing.T) {
	out := wycheproof.Case{TcID: 1, Op: ring.OpSHA256, Expect: wycheproof.ExpectOutput, Want: []byte{1, 2}}
	if out.Check(ring.StatusOK, []byte{1, 2}) != nil || out.Check(ring.StatusOK, []byte{1, 3}) == nil ||
		out.Check(ring.StatusInvalid, nil) == nil || out.Check(ring.StatusOK, []byte{1, 2, 3}) == nil {
		t.Error("ExpectOutput judged wrong")
	}
	out.Prefix = true
	if out.Check(ring.StatusOK, []byte{1, 2, 3}) != nil || out.Check(ring.StatusOK, []byte{1}) == nil {
		t.Error("prefix ExpectOutput judged wrong")
	}
	fail := wycheproof.Case{TcID: 1, Op: ring.OpAESGCMOpen, Expect: wycheproof.ExpectFailure, Status: ring.StatusAuthFailed}
	if fail.Check(ring.StatusAuthFailed, nil) != nil || fail.Check(ring.StatusInvalid, nil) == nil ||
		fail.Check(ring.StatusAuthFailed, []byte{0}) == nil || fail.Check(ring.StatusOK, nil) == nil {
		t.Error("ExpectFailure judged wrong")
	}
	mis := wycheproof.Case{TcID: 1, Op: ring.OpHMACSHA256, Expect: wycheproof.ExpectMismatch, Want: []byte{1, 2}, Prefix: true}
	if mis.Check(ring.StatusOK, []byte{1, 3, 4}) != nil || mis.Check(ring.StatusOK, []byte{1, 2, 4}) == nil ||
		mis.Check(ring.StatusInvalid, nil) == nil {
		t.Error("ExpectMismatch judged wrong")
	}
}

func TestHexBytes(t *testing.T) {
	var v struct{ B wycheproof.HexBytes }
	if err := json.Unmarshal([]byte(`{"B":"00ff10"}`), &v); err != nil || string(v.B) != "\x00\xff\x10" {
		t.Errorf("got %x, %v", v.B, err)
	}
	if err := json.Unmarshal([]byte(`{"B":"0g"}`), &v); err == nil {
		t.Error("bad hex accepted")
	}
}
