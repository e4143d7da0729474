package sim

// An injected stall takes an engine out of service: with every engine of the
// class stalled, the next job waits for the stall to end.

import (
	"testing"
	"time"

	"github.com/accelq/accelq/ring"
)

func TestModelStall(t *testing.T) {
	p, err := LoadProfile("qat-gen2")
	if err != nil {
		t.Fatal(err)
	}
	j := Job{Op: ring.OpRSASignPSS, KeyBits: 2048, Bytes: 32}
	base, _ := NewModel(p).Schedule(0, j)
	m := NewModel(p)
	const stall = 10 * time.Millisecond
	for i := 0; i < p.Engines[ring.ClassAsymmetric]; i++ {
		m.Stall(0, ring.ClassAsymmetric, stall)
	}
	got, _ := m.Schedule(0, j)
	if got < stall || got-stall > base {
		t.Fatalf("job after stalling every engine done at %v; want at least %v and at most %v", got, stall, stall+base)
	}
	// Stalls of one class leave the others alone.
	sym := Job{Op: ring.OpSHA256, Bytes: 64}
	want, _ := NewModel(p).Schedule(0, sym)
	if got, _ := m.Schedule(0, sym); got != want {
		t.Fatalf("symmetric job delayed by an asymmetric stall: %v, want %v", got, want)
	}
}
