package sim

// The device's execution path end to end: fetch, translate, compute, complete,
// against the queue's own address space, with hostile descriptors, backpressure,
// teardown, timing-only mode and the manual clock.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

func ref(region uint32, off uint64, n int) ring.BufRef {
	return ring.BufRef{Region: region, Off: off, Len: uint32(n)}
}

func TestNopAndSHA256(t *testing.T) {
	h := newHarness(t, startDevice(t, "ideal"), 16, nil)
	if c := h.run(ring.SQE{Opcode: ring.OpNop, UserData: 7}); c.Status != ring.StatusOK || c.UserData != 7 {
		t.Fatalf("nop: %+v", c)
	}
	in, inMem := h.region(1000, false)
	out, outMem := h.region(64, true)
	copy(inMem, bytes.Repeat([]byte("accelq"), 200))
	c := h.run(ring.SQE{Opcode: ring.OpSHA256, UserData: 9, Src: ref(in, 0, 1000), Dst: ref(out, 0, 32)})
	want := sha256.Sum256(inMem)
	if c.Status != ring.StatusOK || c.Result != 32 || !bytes.Equal(outMem[:32], want[:]) {
		t.Fatalf("sha256: %+v, digest %x want %x", c, outMem[:32], want)
	}
	if !bytes.Equal(outMem[32:], make([]byte, 32)) {
		t.Fatal("device wrote past the destination")
	}
	if n := h.space.pinned(); n != 0 {
		t.Fatalf("%d pins outstanding after completion", n)
	}
}

func TestAESGCMThroughDevice(t *testing.T) {
	for _, copyMode := range []bool{false, true} {
		h := newHarness(t, startDevice(t, "qat-gen4"), 16, func(c *device.QueueConfig) { c.CopyMode = copyMode })
		key := bytes.Repeat([]byte{0x42}, 32)
		kh := h.space.addKey(t, device.KeyAES, key)
		buf, mem := h.region(4096, true)
		msg := []byte("the quick brown fox jumps over the lazy dog")
		nonce := bytes.Repeat([]byte{1}, 12)
		aad := []byte("header")
		copy(mem[0:], msg)
		copy(mem[1024:], nonce)
		copy(mem[1024+12:], aad)
		c := h.run(ring.SQE{Opcode: ring.OpAESGCMSeal, Key: kh, Src: ref(buf, 0, len(msg)),
			Aux: ref(buf, 1024, 12+len(aad)), Dst: ref(buf, 2048, len(msg)+16)})
		b, _ := aes.NewCipher(key)
		g, _ := cipher.NewGCM(b)
		want := g.Seal(nil, nonce, msg, aad)
		if c.Status != ring.StatusOK || int(c.Result) != len(want) || !bytes.Equal(mem[2048:2048+len(want)], want) {
			t.Fatalf("copy=%v seal: %+v", copyMode, c)
		}
		// Open with a flipped tag: authentication fails and the destination is untouched.
		mem[2048+len(want)-1] ^= 1
		c = h.run(ring.SQE{Opcode: ring.OpAESGCMOpen, Key: kh, Src: ref(buf, 2048, len(want)),
			Aux: ref(buf, 1024, 12+len(aad)), Dst: ref(buf, 3072, len(msg))})
		if c.Status != ring.StatusAuthFailed || !bytes.Equal(mem[3072:3072+len(msg)], make([]byte, len(msg))) {
			t.Fatalf("copy=%v forged open: %+v, dst %x", copyMode, c, mem[3072:3072+len(msg)])
		}
		mem[2048+len(want)-1] ^= 1
		c = h.run(ring.SQE{Opcode: ring.OpAESGCMOpen, Key: kh, Src: ref(buf, 2048, len(want)),
			Aux: ref(buf, 1024, 12+len(aad)), Dst: ref(buf, 3072, len(msg))})
		if c.Status != ring.StatusOK || !bytes.Equal(mem[3072:3072+len(msg)], msg) {
			t.Fatalf("copy=%v open: %+v", copyMode, c)
		}
		// In place.
		c = h.run(ring.SQE{Opcode: ring.OpAESGCMSeal, Flags: ring.SQEInPlace, Key: kh, Src: ref(buf, 0, len(msg)),
			Aux: ref(buf, 1024, 12+len(aad)), Dst: ref(buf, 0, len(msg)+16)})
		if c.Status != ring.StatusOK || !bytes.Equal(mem[:len(want)], want) {
			t.Fatalf("copy=%v in-place seal: %+v", copyMode, c)
		}
	}
}

// TestHostileSQE sends descriptors a hostile client could write. Each must
// complete with the right status and leave every byte of memory as it was.
func TestHostileSQE(t *testing.T) {
	d := startDevice(t, "qat-gen4")
	h := newHarness(t, d, 64, func(c *device.QueueConfig) { c.Classes = 1 << ring.ClassSymmetric })
	rw, rwMem := h.region(4096, true)
	ro, roMem := h.region(4096, false)
	for i := range rwMem {
		rwMem[i], roMem[i] = byte(i), byte(i*7)
	}
	rwSnap, roSnap := bytes.Clone(rwMem), bytes.Clone(roMem)
	aes := h.space.addKey(t, device.KeyAES, make([]byte, 16))
	hmacKey := h.space.addKey(t, device.KeyHMAC, []byte("k"))
	h.space.deny[ring.OpSHA512].Store(true)

	raw := func(mut func(b []byte)) []byte {
		var b [ring.SQESize]byte
		s := ring.SQE{Opcode: ring.OpSHA256, Src: ref(rw, 0, 16), Dst: ref(rw, 2048, 32), UserData: 1}
		s.Encode(b[:])
		mut(b[:])
		return b[:]
	}
	cases := []struct {
		name string
		sqe  ring.SQE
		raw  []byte
		want ring.Status
	}{
		{name: "unknown opcode", sqe: ring.SQE{Opcode: 0x7f}, want: ring.StatusInvalid},
		{name: "reserved field set", raw: raw(func(b []byte) { b[54] = 1 }), want: ring.StatusInvalid},
		{name: "unknown flag", raw: raw(func(b []byte) { b[1] = 0x80 }), want: ring.StatusInvalid},
		{name: "unknown region", sqe: ring.SQE{Opcode: ring.OpSHA256, Src: ref(999, 0, 16), Dst: ref(rw, 2048, 32)}, want: ring.StatusBadAddress},
		{name: "length past region", sqe: ring.SQE{Opcode: ring.OpSHA256, Src: ref(rw, 4000, 97), Dst: ref(rw, 2048, 32)}, want: ring.StatusBadAddress},
		{name: "offset overflow", sqe: ring.SQE{Opcode: ring.OpSHA256, Src: ring.BufRef{Region: rw, Off: ^uint64(0) - 3, Len: 16}, Dst: ref(rw, 2048, 32)}, want: ring.StatusBadAddress},
		{name: "region 0 with length", sqe: ring.SQE{Opcode: ring.OpSHA256, Src: ring.BufRef{Off: 0, Len: 16}, Dst: ref(rw, 2048, 32)}, want: ring.StatusBadAddress},
		{name: "write to read-only", sqe: ring.SQE{Opcode: ring.OpSHA256, Src: ref(rw, 0, 16), Dst: ref(ro, 0, 32)}, want: ring.StatusBadAddress},
		{name: "overlap src dst", sqe: ring.SQE{Opcode: ring.OpSHA256, Src: ref(rw, 0, 64), Dst: ref(rw, 32, 32)}, want: ring.StatusBadAddress},
		{name: "in-place flag but offset", sqe: ring.SQE{Opcode: ring.OpAESGCMSeal, Flags: ring.SQEInPlace, Key: aes, Src: ref(rw, 0, 64), Aux: ref(rw, 1024, 12), Dst: ref(rw, 8, 80)}, want: ring.StatusBadAddress},
		{name: "aux overlaps dst", sqe: ring.SQE{Opcode: ring.OpAESGCMSeal, Key: aes, Src: ref(rw, 0, 64), Aux: ref(rw, 1024, 12), Dst: ref(rw, 1000, 80)}, want: ring.StatusBadAddress},
		{name: "unknown key", sqe: ring.SQE{Opcode: ring.OpAESGCMSeal, Key: 12345, Src: ref(rw, 0, 64), Aux: ref(rw, 1024, 12), Dst: ref(rw, 2048, 80)}, want: ring.StatusNotPermitted},
		{name: "missing key", sqe: ring.SQE{Opcode: ring.OpAESGCMSeal, Src: ref(rw, 0, 64), Aux: ref(rw, 1024, 12), Dst: ref(rw, 2048, 80)}, want: ring.StatusNotPermitted},
		{name: "key of wrong kind", sqe: ring.SQE{Opcode: ring.OpAESGCMSeal, Key: hmacKey, Src: ref(rw, 0, 64), Aux: ref(rw, 1024, 12), Dst: ref(rw, 2048, 80)}, want: ring.StatusNotPermitted},
		{name: "key on keyless op", sqe: ring.SQE{Opcode: ring.OpSHA256, Key: aes, Src: ref(rw, 0, 16), Dst: ref(rw, 2048, 32)}, want: ring.StatusInvalid},
		{name: "policy denies", sqe: ring.SQE{Opcode: ring.OpSHA512, Src: ref(rw, 0, 16), Dst: ref(rw, 2048, 64)}, want: ring.StatusNotPermitted},
		{name: "class not on queue", sqe: ring.SQE{Opcode: ring.OpGzipCompress, Src: ref(rw, 0, 16), Dst: ref(rw, 2048, 64)}, want: ring.StatusNotPermitted},
		{name: "destination too small", sqe: ring.SQE{Opcode: ring.OpSHA256, Src: ref(rw, 0, 16), Dst: ref(rw, 2048, 31)}, want: ring.StatusNoSpace},
		{name: "bad param", sqe: ring.SQE{Opcode: ring.OpSHA256, Param: 3, Src: ref(rw, 0, 16), Dst: ref(rw, 2048, 32)}, want: ring.StatusInvalid},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.raw == nil {
				tc.sqe.UserData = uint64(i + 100)
				c := h.run(tc.sqe)
				if c.UserData != tc.sqe.UserData {
					t.Fatalf("user data %d, want %d", c.UserData, tc.sqe.UserData)
				}
				if c.Status != tc.want {
					t.Fatalf("status %v, want %v", c.Status, tc.want)
				}
			} else {
				h.sq.Push(tc.raw)
				h.sq.Wake()
				if c := h.reap(1)[0]; c.Status != tc.want || c.UserData != 1 {
					t.Fatalf("status %v user data %d, want %v and 1", c.Status, c.UserData, tc.want)
				}
			}
			if !bytes.Equal(rwMem, rwSnap) || !bytes.Equal(roMem, roSnap) {
				t.Fatal("a refused descriptor changed memory")
			}
			if n := h.space.pinned(); n != 0 {
				t.Fatalf("%d pins outstanding", n)
			}
		})
	}
}

func TestUnsupportedByProfile(t *testing.T) {
	h := newHarness(t, startDevice(t, "bluefield3"), 8, nil)
	in, _ := h.region(64, false)
	out, _ := h.region(256, true)
	if c := h.run(ring.SQE{Opcode: ring.OpGzipCompress, Src: ref(in, 0, 64), Dst: ref(out, 0, 256)}); c.Status != ring.StatusUnsupported {
		t.Fatalf("bluefield3 gzip compress: %v, want unsupported", c.Status)
	}
	h = newHarness(t, startDevice(t, "iaa"), 8, nil)
	in, _ = h.region(64, false)
	out, _ = h.region(256, true)
	if c := h.run(ring.SQE{Opcode: ring.OpSHA256, Src: ref(in, 0, 64), Dst: ref(out, 0, 32)}); c.Status != ring.StatusUnsupported {
		t.Fatalf("iaa sha256: %v, want unsupported", c.Status)
	}
}

func TestTimingOnlyFlagsEveryCQE(t *testing.T) {
	d := startDevice(t, "qat-gen4", WithTimingOnly())
	if !d.Info().TimingOnly {
		t.Fatal("Info does not say timing-only")
	}
	h := newHarness(t, d, 16, nil)
	in, _ := h.region(64, false)
	out, outMem := h.region(32, true)
	c := h.run(ring.SQE{Opcode: ring.OpSHA256, Src: ref(in, 0, 64), Dst: ref(out, 0, 32)})
	if c.Status != ring.StatusOK || c.Flags&ring.CQETimingOnly == 0 {
		t.Fatalf("timing-only completion %+v lacks the flag", c)
	}
	if !bytes.Equal(outMem, make([]byte, 32)) {
		t.Fatal("timing-only device wrote output")
	}
}

// TestManualClockHoldsCompletions: a completion becomes visible only when the
// model's time has come.
func TestManualClockHoldsCompletions(t *testing.T) {
	clk := &ManualClock{}
	d := startDevice(t, "qat-gen2", WithClock(clk))
	h := newHarness(t, d, 8, nil)
	in, _ := h.region(64, false)
	out, _ := h.region(32, true)
	h.submit(ring.SQE{Opcode: ring.OpSHA256, Src: ref(in, 0, 64), Dst: ref(out, 0, 32)})
	time.Sleep(20 * time.Millisecond)
	if n, _ := h.cq.Available(); n != 0 {
		t.Fatal("completion visible before model time advanced")
	}
	clk.Advance(time.Second)
	if c := h.reap(1)[0]; c.Status != ring.StatusOK {
		t.Fatalf("after advancing the clock: %v", c.Status)
	}
}

// TestBackpressureIsolated: a client that stops reaping stalls only itself.
func TestBackpressureIsolated(t *testing.T) {
	d := startDevice(t, "ideal")
	lazy := newHarness(t, d, 8, nil)
	busy := newHarness(t, d, 8, nil)
	for i := 0; i < 8; i++ {
		lazy.submit(ring.SQE{Opcode: ring.OpNop, UserData: uint64(i)})
	}
	// The lazy client's CQ fills; its next 8 SQEs stay in its SQ.
	for i := 0; i < 8; i++ {
		lazy.submit(ring.SQE{Opcode: ring.OpNop, UserData: uint64(8 + i)})
	}
	for i := 0; i < 1000; i++ {
		if c := busy.run(ring.SQE{Opcode: ring.OpNop, UserData: uint64(i)}); c.UserData != uint64(i) {
			t.Fatalf("busy client got %d, want %d", c.UserData, i)
		}
	}
	got := lazy.reap(16)
	for i, c := range got {
		if c.UserData != uint64(i) {
			t.Fatalf("lazy client completion %d has user data %d", i, c.UserData)
		}
	}
}

// TestCorruptRingIsolated: a client that corrupts its SQ loses its queue and
// nobody else notices.
func TestCorruptRingIsolated(t *testing.T) {
	d := startDevice(t, "ideal")
	bad := newHarness(t, d, 8, nil)
	good := newHarness(t, d, 8, nil)
	bad.submit(ring.SQE{Opcode: ring.OpNop})
	bad.reap(1)
	// Publish a tail a million entries ahead of the head, and ring the doorbell.
	// Atomically, as another process would: the race detector watches this memory.
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&bad.q.(*queue).sqMem[64])), 1_000_000)
	bad.q.Doorbell().Notify()
	for i := 0; i < 100; i++ {
		good.run(ring.SQE{Opcode: ring.OpNop})
	}
	deadline := time.Now().Add(10 * time.Second)
	for bad.q.(*queue).Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("device did not notice the corrupt ring")
		}
		time.Sleep(time.Millisecond)
	}
	if err := bad.q.Destroy(); err != nil {
		t.Fatal(err)
	}
	good.run(ring.SQE{Opcode: ring.OpNop})
}

// TestDestroyWithJobsInFlight: Destroy returns once every job is done and the
// device holds no pin, even with the client never reaping.
func TestDestroyWithJobsInFlight(t *testing.T) {
	d := startDevice(t, "qat-gen2")
	h := newHarness(t, d, 128, nil)
	in, _ := h.region(1<<16, false)
	out, _ := h.region(128*64, true)
	for i := 0; i < 128; i++ {
		h.submit(ring.SQE{Opcode: ring.OpSHA512, Src: ref(in, 0, 1<<16), Dst: ref(out, uint64(i*64), 64), UserData: uint64(i)})
	}
	if err := h.q.Destroy(); err != nil {
		t.Fatal(err)
	}
	if n := h.space.pinned(); n != 0 {
		t.Fatalf("%d pins outstanding after Destroy", n)
	}
	st := h.q.Stats()
	if st.Completed != st.Submitted {
		t.Fatalf("submitted %d, completed %d", st.Submitted, st.Completed)
	}
}
