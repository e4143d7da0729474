package sim

// Wycheproof known answers through the device's execution path: each case is
// written into registered memory, submitted as an SQE, fetched, translated,
// computed by an engine and completed as a CQE, in zero-copy and copy mode.

import (
	"bytes"
	"strings"
	"testing"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/wycheproof"
	"github.com/accelq/accelq/ring"
)

func TestWycheproofThroughDevice(t *testing.T) {
	wycheproof.Require(t)
	for _, copyMode := range []bool{false, true} {
		d := startDevice(t, "qat-gen4")
		h := newHarness(t, d, 64, func(c *device.QueueConfig) { c.CopyMode = copyMode })
		for _, file := range wycheproof.Files {
			name := strings.TrimSuffix(file, "_test.json")
			if copyMode {
				name += "/copy"
			}
			t.Run(name, func(t *testing.T) {
				s, err := wycheproof.Cases(file)
				if err != nil {
					t.Fatal(err)
				}
				runCases(t, h, s.Cases)
				t.Logf("%s: %d cases through the device", file, len(s.Cases))
			})
		}
		if n := h.space.pinned(); n != 0 {
			t.Fatalf("%d pins outstanding", n)
		}
	}
}

// runCases submits the cases in batches that fill the queue, then checks each
// completion and each destination.
func runCases(t *testing.T, h *harness, cases []wycheproof.Case) {
	keys := map[string]uint32{}
	const batch = 64
	for start := 0; start < len(cases); start += batch {
		cs := cases[start:min(start+batch, len(cases))]
		dsts := make([][]byte, len(cs))
		sqes := make([]ring.SQE, len(cs))
		for i := range cs {
			c := &cs[i]
			var kh uint32
			if c.KeyKind != 0 {
				id := c.KeyKind.String() + string(c.Key)
				if kh = keys[id]; kh == 0 {
					kh = h.space.addKey(t, c.KeyKind, c.Key)
					keys[id] = kh
				}
			}
			in := append(bytes.Clone(c.Src), c.Aux...)
			inH := h.space.addRegion(in, false)
			s := ring.SQE{Opcode: c.Op, Param: c.Param, Key: kh, UserData: uint64(i)}
			if len(c.Src) > 0 {
				s.Src = ref(inH, 0, len(c.Src))
			}
			if len(c.Aux) > 0 {
				s.Aux = ref(inH, uint64(len(c.Src)), len(c.Aux))
			}
			if c.DstLen > 0 {
				var dh uint32
				dh, dsts[i] = h.region(c.DstLen, true)
				s.Dst = ref(dh, 0, c.DstLen)
			}
			sqes[i] = s
		}
		h.submit(sqes...)
		for _, cqe := range h.reap(len(cs)) {
			i := cqe.UserData
			c := &cs[i]
			out := dsts[i][:cqe.Result]
			if err := c.Check(cqe.Status, out); err != nil {
				t.Error(err)
			}
			if cqe.Status != ring.StatusOK && !bytes.Equal(dsts[i], make([]byte, len(dsts[i]))) {
				t.Errorf("%s: failed with %v but wrote to its destination", c.Name(), cqe.Status)
			}
		}
	}
}
