package sim

import (
	"strings"
	"testing"

	"github.com/accelq/accelq/ring"
)

// TestMaxQueues: a device refuses a queue beyond its profile's MaxQueues with
// an error, and serves a new one once another is destroyed.
func TestMaxQueues(t *testing.T) {
	p, err := LoadProfile("ideal")
	if err != nil {
		t.Fatal(err)
	}
	p.MaxQueues = 2
	d, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a := newHarness(t, d, 8, nil)
	newHarness(t, d, 8, nil)
	q, err := d.CreateQueue(queueConfig(t, 8))
	if err == nil || !strings.Contains(err.Error(), "already serves 2 queues") {
		t.Fatalf("third queue on a device of two: %v, %v; want a refusal", q, err)
	}
	t.Log(err)
	if err := a.q.Destroy(); err != nil {
		t.Fatal(err)
	}
	c := newHarness(t, d, 8, nil)
	if got := c.run(ring.SQE{Opcode: ring.OpNop, UserData: 9}); got.Status != ring.StatusOK || got.UserData != 9 {
		t.Fatalf("job on the queue that took the freed place: %+v", got)
	}
}
