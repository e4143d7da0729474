package sim

// Fault injection under load: whatever fails, every accepted job completes exactly
// once, with a status that says what happened.

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/accelq/accelq/ring"
)

func TestFaultsUnderLoad(t *testing.T) {
	const n = 5000
	d := startDevice(t, "qat-gen4", WithFaults(Faults{
		Seed: 7, ErrorRate: 0.05, StallRate: 0.05, Stall: 200 * time.Microsecond, ResetRate: 0.002,
	}))
	h := newHarness(t, d, 64, nil)
	in, inMem := h.region(256, false)
	out, outMem := h.region(32*n, true)
	for i := range inMem {
		inMem[i] = byte(i)
	}
	want := sha256.Sum256(inMem)
	seen := make([]int, n)
	byStatus := map[ring.Status]int{}
	submitted, reaped := 0, 0
	buf := make([]byte, 64*ring.CQESize)
	deadline := time.Now().Add(2 * time.Minute)
	for reaped < n {
		for submitted < n && submitted-reaped < 64 {
			s := ring.SQE{Opcode: ring.OpSHA256, UserData: uint64(submitted),
				Src: ref(in, 0, 256), Dst: ref(out, uint64(32*submitted), 32)}
			got, err := h.sq.Reserve(1)
			if err != nil {
				t.Fatal(err)
			}
			if got == 0 {
				break
			}
			s.Encode(h.sq.Entry(0))
			h.sq.Commit(1)
			submitted++
		}
		h.sq.Wake()
		if _, err := h.cq.Wait(1000, 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		got, err := h.cq.Pop(buf)
		if err != nil {
			t.Fatal(err)
		}
		rearm := false
		for i := 0; i < got; i++ {
			var c ring.CQE
			if err := c.Decode(buf[i*ring.CQESize:]); err != nil {
				t.Fatal(err)
			}
			if c.UserData >= n {
				t.Fatalf("completion for unknown job %d", c.UserData)
			}
			seen[c.UserData]++
			byStatus[c.Status]++
			switch c.Status {
			case ring.StatusOK:
				if !bytes.Equal(outMem[32*c.UserData:32*c.UserData+32], want[:]) {
					t.Fatalf("job %d completed OK with a wrong digest", c.UserData)
				}
			case ring.StatusDeviceError:
				if c.DevErr == 0 {
					t.Fatalf("device error without a device error code")
				}
			case ring.StatusFlushed:
				rearm = true
			default:
				t.Fatalf("job %d: unexpected status %v", c.UserData, c.Status)
			}
		}
		reaped += got
		if rearm {
			if err := h.q.Rearm(); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hang: %d of %d completions", reaped, n)
		}
	}
	for i, k := range seen {
		if k != 1 {
			t.Fatalf("job %d completed %d times", i, k)
		}
	}
	if byStatus[ring.StatusDeviceError] == 0 || byStatus[ring.StatusFlushed] == 0 || byStatus[ring.StatusOK] == 0 {
		t.Fatalf("faults were not all exercised: %v", byStatus)
	}
	st := h.q.Stats()
	if st.Submitted != n || st.Completed != n {
		t.Fatalf("stats: submitted %d completed %d, want %d", st.Submitted, st.Completed, n)
	}
	if ds := d.Stats(); ds.Resets == 0 {
		t.Fatal("device stats count no reset")
	}
	t.Logf("statuses: %v", byStatus)
}
