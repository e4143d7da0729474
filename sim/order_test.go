package sim

import (
	"runtime"
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// TestCompletionFreesItsSlot: once a client sees a job's completion, the
// job's submission slot is free: a client that sizes its rings alike and
// refills only what completed never finds the submission ring full. (The
// device writes a burst's completions only after it has moved the head past
// the burst's entries.) Jobs that complete at fetch (nops, small inline
// seals) and jobs that wait for the model both.
func TestCompletionFreesItsSlot(t *testing.T) {
	for _, profile := range []string{"ideal", "qat-gen4"} {
		for _, op := range []ring.Opcode{ring.OpNop, ring.OpAESGCMSeal} {
			t.Run(profile+"/"+op.String(), func(t *testing.T) {
				const depth, jobs = 16, 20000
				d := startDevice(t, profile)
				h := newHarness(t, d, depth, nil)
				sqe := ring.SQE{Opcode: op}
				if op == ring.OpAESGCMSeal {
					sqe.Key = h.space.addKey(t, device.KeyAES, make([]byte, 16))
					aux, _ := h.region(12, false)
					src, _ := h.region(64, false)
					sqe.Aux, sqe.Src = ref(aux, 0, 12), ref(src, 0, 64)
				}
				dsts := make([]ring.BufRef, depth)
				for i := range dsts {
					if op == ring.OpAESGCMSeal {
						w, _ := h.region(80, true)
						dsts[i] = ref(w, 0, 80)
					}
				}
				free := make([]int, 0, depth)
				for i := range depth {
					free = append(free, i)
				}
				buf := make([]byte, depth*ring.CQESize)
				submitted, completed := 0, 0
				deadline := time.Now().Add(60 * time.Second)
				for completed < jobs {
					if k := min(len(free), jobs-submitted); k > 0 {
						n, err := h.sq.Reserve(k)
						if err != nil {
							t.Fatal(err)
						}
						if n != k {
							t.Fatalf("after %d completions, %d slots free by the completions seen, the ring gave %d", completed, k, n)
						}
						for i := range n {
							s := sqe
							s.UserData = uint64(free[len(free)-1-i])
							s.Dst = dsts[s.UserData]
							s.Encode(h.sq.Entry(i))
						}
						free = free[:len(free)-n]
						h.sq.Commit(n)
						h.sq.Wake()
						submitted += n
					}
					for {
						k, err := h.cq.Available()
						if err != nil {
							t.Fatal(err)
						}
						if k > 0 {
							break
						}
						if time.Now().After(deadline) {
							t.Fatalf("%d of %d jobs completed", completed, jobs)
						}
						runtime.Gosched()
					}
					n, _ := h.cq.Pop(buf)
					for i := range n {
						var c ring.CQE
						if err := c.Decode(buf[i*ring.CQESize:]); err != nil || c.Status != ring.StatusOK {
							t.Fatalf("completion: %v, %v", c.Status, err)
						}
						free = append(free, int(c.UserData))
					}
					completed += n
				}
			})
		}
	}
}
