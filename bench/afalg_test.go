package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/accelq/accelq/internal/unix"
)

// The kernel's AF_ALG computes what accelq computes, for every operation the
// afalg mode offers; on a kernel without AF_ALG the test says so and skips.
func TestAFALG(t *testing.T) {
	if err := AFALGAvailable(); err != nil {
		if errors.Is(err, unix.ErrNoAFALG) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	timing := Timing{Window: 5 * time.Millisecond, MinJobs: 10, MaxWindow: 50 * time.Millisecond}
	for o, alg := range afalgAlgs {
		for _, n := range []int{64, 4096} {
			s, err := newShape(Workload{Op: o, Size: n})
			if err != nil {
				t.Fatal(err)
			}
			r, err := runAFALG(context.Background(), s, alg, timing)
			if err != nil {
				t.Errorf("%v: %v", s.w, err)
				continue
			}
			if r.Verified == 0 || r.Miscompares != 0 {
				t.Errorf("%v through %s: %d of %d outputs differ from accelq's", s.w, alg.name, r.Miscompares, r.Verified)
			}
		}
	}
}
