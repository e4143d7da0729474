package op_test

import (
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/wycheproof"
	"github.com/accelq/accelq/ring"
)

// TestWycheproof runs every vector of the files in wycheproof.Files through
// op.Run, with the guards of cryptoRun; the ciphers also in place. The vectors
// accelq cannot express are counted and logged per file, and most of each file
// must run.
func TestWycheproof(t *testing.T) {
	wycheproof.Require(t)
	for _, file := range wycheproof.Files {
		t.Run(strings.TrimSuffix(file, "_test.json"), func(t *testing.T) {
			s, err := wycheproof.Cases(file)
			if err != nil {
				t.Fatal(err)
			}
			keys := map[string]*device.Key{}
			acceptable := map[string]int{}
			for i := range s.Cases {
				c := &s.Cases[i]
				var key *device.Key
				if c.KeyKind != 0 {
					id := c.KeyKind.String() + string(c.Key)
					if key = keys[id]; key == nil {
						key = mustKey(t, c.KeyKind, c.Key)
						keys[id] = key
					}
				}
				j := cryptoJob{op: c.Op, param: c.Param, key: key, src: c.Src, aux: c.Aux, dstLen: c.DstLen}
				res, out := cryptoRun(t, j)
				if err := c.Check(res.Status, out); err != nil {
					t.Error(err)
				}
				if inPlaceCipher(c.Op) {
					j.inPlace = true
					res, out := cryptoRun(t, j)
					if err := c.Check(res.Status, out); err != nil {
						t.Errorf("in place: %v", err)
					}
				}
				if c.Result == wycheproof.Acceptable {
					acceptable[c.Op.String()+": "+c.Why]++
				}
			}
			t.Logf("%s: %d of %d vectors ran as %d cases; %d skipped: %s",
				file, s.Used, s.Vectors, len(s.Cases), s.SkippedTotal(), s.SkipSummary())
			var acc []string
			for why, n := range acceptable {
				acc = append(acc, why+" ("+strconv.Itoa(n)+" cases)")
			}
			sort.Strings(acc)
			for _, a := range acc {
				t.Logf("acceptable: %s", a)
			}
			if s.Used+s.SkippedTotal() != s.Vectors {
				t.Errorf("%d used + %d skipped != %d vectors", s.Used, s.SkippedTotal(), s.Vectors)
			}
			switch {
			case file == "aes_gcm_test.json":
				// A third of the file is AES-192 and a sixth has IVs longer
				// than 12 bytes, neither of which accelq offers.
				if s.Used <= 100 {
					t.Errorf("only %d AES-GCM vectors ran", s.Used)
				}
			case 2*s.Used <= s.Vectors:
				t.Errorf("only %d of %d vectors ran", s.Used, s.Vectors)
			}
		})
	}
}

func inPlaceCipher(o ring.Opcode) bool {
	switch o {
	case ring.OpAESGCMSeal, ring.OpAESGCMOpen, ring.OpChaCha20Poly1305Seal, ring.OpChaCha20Poly1305Open,
		ring.OpAESXTSEncrypt, ring.OpAESXTSDecrypt:
		return true
	}
	return false
}
