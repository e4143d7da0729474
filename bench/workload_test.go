package bench

import (
	"bytes"
	"errors"
	"testing"

	"github.com/accelq/accelq/ring"
)

// Every operation gets a job whose inputs are valid, whose software result
// passes its own check, and whose check catches a wrong output.
func TestShapes(t *testing.T) {
	for _, o := range ring.Opcodes() {
		class, _ := o.Class()
		sizes := []int{64, 4096}
		switch class {
		case ring.ClassAsymmetric:
			sizes = []int{2048, 256, 384}
		case ring.ClassNone:
			sizes = []int{0}
		}
		for _, n := range sizes {
			w := Workload{Op: o, Size: n}
			s, err := newShape(w)
			if errors.Is(err, ErrNoShape) {
				continue // no key of that size for the operation
			}
			if err != nil {
				t.Errorf("%v: %v", w, err)
				continue
			}
			if o == ring.OpNop {
				continue
			}
			dst := make([]byte, s.dstLen)
			r := s.run(dst)
			if r.Status != ring.StatusOK {
				t.Errorf("%v: software run: %v", w, r.Status)
				continue
			}
			if err := s.check(dst, r.N, r.Aux); err != nil {
				t.Errorf("%v: the software result fails its own check: %v", w, err)
			}
			if r.N == 0 && s.verify == nil && r.Aux != 0 {
				// CRC32C: the result is the CQE's auxiliary value.
				if s.check(dst, r.N, r.Aux^1) == nil {
					t.Errorf("%v: a wrong checksum passes", w)
				}
				continue
			}
			if r.N == 0 {
				continue // a verification: its result is its status
			}
			if r.Aux != 0 && s.check(dst, r.N, r.Aux^1) == nil {
				t.Errorf("%v: a wrong auxiliary result (checksum) passes", w)
			}
			if s.check(dst, len(dst)+1, r.Aux) == nil {
				t.Errorf("%v: a length beyond the destination passes", w)
			}
			bad := bytes.Clone(dst)
			bad[r.N/2] ^= 0x40
			if s.check(bad, r.N, r.Aux) == nil {
				t.Errorf("%v: a corrupted output passes its check", w)
			}
		}
	}
}

func TestShapeRefusesImpossibleSizes(t *testing.T) {
	for _, w := range []Workload{
		{ring.OpAESXTSEncrypt, 15}, {ring.OpAESXTSEncrypt, 100}, {ring.OpEd25519Sign, 384},
		{ring.OpRSASignPSS, 1024}, {ring.OpSHA256, 0},
	} {
		if _, err := newShape(w); !errors.Is(err, ErrNoShape) {
			t.Errorf("%v: err %v, want ErrNoShape", w, err)
		}
	}
}

// The text is the same in every run, and compresses about as text does.
func TestCorpus(t *testing.T) {
	a, b := corpus(1<<16), corpus(1<<16)
	if !bytes.Equal(a, b) || len(a) != 1<<16 {
		t.Fatal("corpus is not deterministic")
	}
	s, err := newShape(Workload{ring.OpZstdCompress, 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, s.dstLen)
	r := s.run(dst)
	if ratio := float64(len(a)) / float64(r.N); ratio < 2 || ratio > 8 {
		t.Errorf("zstd ratio %.2f on the corpus, want a text-like 2 to 8", ratio)
	}
}
