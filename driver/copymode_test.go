package driver

// Buffer modes. In copy mode the device copies a job's input out of client
// memory before computing and its output back after (the hardened model
// proposed for AF_ALG); in zero-copy mode it works in place. The results must
// be the same, byte for byte; BenchmarkCopyMode measures what copying costs by
// size.

import (
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/bytesize"
	"github.com/accelq/accelq/ring"
	"github.com/accelq/accelq/sim"
)

// modeRig is an embedded driver on the ideal simulated device with one
// registered region and one queue per buffer mode.
type modeRig struct {
	dev    *sim.Device
	ctx    *Context
	h      uint32
	mem    []byte
	next   uint64 // bump allocator over mem
	queues map[bool]*client
}

func newModeRig(tb testing.TB, size, depth int) *modeRig {
	tb.Helper()
	dev := newIdealDevice(tb)
	r := &modeRig{dev: dev, ctx: openCtx(tb, New(dev, nil), 1000), queues: map[bool]*client{}}
	var fd int
	fd, r.mem = sealedMemfd(tb, size)
	r.h = register(tb, r.ctx, fd, true)
	for _, copyMode := range []bool{false, true} {
		r.queues[copyMode] = newClient(tb, dev, r.ctx, QueueOptions{Depth: depth, CopyMode: copyMode})
		if got := r.queues[copyMode].q.Options().CopyMode; got != copyMode {
			tb.Fatalf("queue created with copy mode %v reports %v", copyMode, got)
		}
	}
	return r
}

// put copies b into the region and returns its reference; alloc reserves n
// zeroed bytes. Buffers are 64-byte aligned and never overlap.
func (r *modeRig) put(b []byte) ring.BufRef {
	ref := r.alloc(len(b))
	copy(r.mem[ref.Off:], b)
	return ref
}

func (r *modeRig) alloc(n int) ring.BufRef {
	off := r.next
	r.next = (r.next + uint64(n) + 63) &^ 63
	if r.next > uint64(len(r.mem)) {
		panic("modeRig: region full")
	}
	clear(r.mem[off : off+uint64(n)])
	return ring.BufRef{Region: r.h, Off: off, Len: uint32(n)}
}

func (r *modeRig) bytes(ref ring.BufRef, n uint32) []byte {
	return bytes.Clone(r.mem[ref.Off : ref.Off+uint64(n)])
}

// modeResult is what a job produced.
type modeResult struct {
	status ring.Status
	result uint32
	aux    uint64
	out    []byte
}

func TestCopyModeSameResults(t *testing.T) {
	r := newModeRig(t, 8<<20, 16)
	aesKey := make([]byte, 32)
	for i := range aesKey {
		aesKey[i] = byte(i + 1)
	}
	kAES, err := r.ctx.ImportKey(device.KeyAES, aesKey)
	if err != nil {
		t.Fatal(err)
	}
	edPriv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	der, err := x509.MarshalPKCS8PrivateKey(edPriv)
	if err != nil {
		t.Fatal(err)
	}
	kEd, err := r.ctx.ImportKey(device.KeyPrivate, der)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(aesKey)
	gcm, _ := cipher.NewGCM(block)

	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	text := func(n int) []byte {
		words := []string{"accelerator ", "ring ", "queue ", "completion ", "zero-copy ", "copy mode ", "\n"}
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[rng.IntN(len(words))])
		}
		return b.Bytes()[:n]
	}
	sizes := []int{0, 1, 64, 1000, 16 << 10, 300 << 10}
	inputs, texts := map[int][]byte{}, map[int][]byte{}
	for _, n := range sizes {
		inputs[n], texts[n] = random(n), text(n)
	}
	nonce := random(12)
	aad := []byte("additional data")

	results := map[bool]map[string]modeResult{}
	for _, copyMode := range []bool{false, true} {
		cl := r.queues[copyMode]
		r.next = 0
		res := map[string]modeResult{}
		run := func(name string, s ring.SQE, out ring.BufRef) modeResult {
			t.Helper()
			s.UserData = uint64(len(res))
			c := cl.run(s)
			if c.UserData != s.UserData {
				t.Fatalf("%s: CQE for user data %d", name, c.UserData)
			}
			mr := modeResult{status: c.Status, result: c.Result, aux: c.Aux}
			if out.Len > 0 {
				mr.out = r.bytes(out, out.Len)
			}
			res[name] = mr
			return mr
		}
		aux := r.put(append(bytes.Clone(nonce), aad...))
		for _, n := range sizes {
			p := inputs[n]
			want := gcm.Seal(nil, nonce, p, aad)
			src := r.put(p)
			dst := r.alloc(n + 16)
			if mr := run(fmt.Sprintf("aes-gcm-seal/%d", n), ring.SQE{Opcode: ring.OpAESGCMSeal, Key: kAES, Src: src, Aux: aux, Dst: dst}, dst); mr.status != ring.StatusOK || !bytes.Equal(mr.out, want) {
				t.Fatalf("copy mode %v: AES-GCM seal of %d bytes: %v, output differs from crypto/cipher", copyMode, n, mr.status)
			}
			// Open what the device sealed.
			pt := r.alloc(n)
			if mr := run(fmt.Sprintf("aes-gcm-open/%d", n), ring.SQE{Opcode: ring.OpAESGCMOpen, Key: kAES, Src: dst, Aux: aux, Dst: pt}, pt); mr.status != ring.StatusOK || !bytes.Equal(mr.out, p) {
				t.Fatalf("copy mode %v: AES-GCM open of %d bytes: %v", copyMode, n, mr.status)
			}
			// A forged tag: nothing is written.
			if n > 0 {
				forged := r.put(append(bytes.Clone(want[:n]), make([]byte, 16)...))
				out := r.alloc(n)
				if mr := run(fmt.Sprintf("aes-gcm-open-forged/%d", n), ring.SQE{Opcode: ring.OpAESGCMOpen, Key: kAES, Src: forged, Aux: aux, Dst: out}, out); mr.status != ring.StatusAuthFailed || !bytes.Equal(mr.out, make([]byte, n)) {
					t.Fatalf("copy mode %v: forged tag: %v, output %x...", copyMode, mr.status, mr.out[:min(n, 16)])
				}
			}
			// In place.
			ip := r.alloc(n + 16)
			copy(r.mem[ip.Off:], p)
			if mr := run(fmt.Sprintf("aes-gcm-seal-in-place/%d", n), ring.SQE{Opcode: ring.OpAESGCMSeal, Flags: ring.SQEInPlace, Key: kAES,
				Src: ring.BufRef{Region: r.h, Off: ip.Off, Len: uint32(n)}, Aux: aux, Dst: ip}, ip); mr.status != ring.StatusOK || !bytes.Equal(mr.out, want) {
				t.Fatalf("copy mode %v: in-place AES-GCM seal of %d bytes: %v", copyMode, n, mr.status)
			}
			// SHA-256.
			d := r.alloc(32)
			sum := sha256.Sum256(p)
			if mr := run(fmt.Sprintf("sha256/%d", n), ring.SQE{Opcode: ring.OpSHA256, Src: src, Dst: d}, d); mr.status != ring.StatusOK || !bytes.Equal(mr.out, sum[:]) {
				t.Fatalf("copy mode %v: SHA-256 of %d bytes: %v", copyMode, n, mr.status)
			}
			// Ed25519.
			sig := r.alloc(64)
			if mr := run(fmt.Sprintf("ed25519-sign/%d", n), ring.SQE{Opcode: ring.OpEd25519Sign, Key: kEd, Src: src, Dst: sig}, sig); mr.status != ring.StatusOK || !bytes.Equal(mr.out, ed25519.Sign(edPriv, p)) {
				t.Fatalf("copy mode %v: Ed25519 signature of %d bytes: %v", copyMode, n, mr.status)
			}
			// gzip, compressible and not.
			for _, kind := range []string{"text", "random"} {
				in := p
				if kind == "text" {
					in = texts[n]
				}
				isrc := r.put(in)
				gz := r.alloc(n + n/8 + 128)
				mr := run(fmt.Sprintf("gzip-compress/%s/%d", kind, n), ring.SQE{Opcode: ring.OpGzipCompress, Param: 6, Src: isrc, Dst: gz}, gz)
				if mr.status != ring.StatusOK || mr.aux != uint64(crc32.ChecksumIEEE(in)) {
					t.Fatalf("copy mode %v: gzip of %d %s bytes: %v, checksum %#x", copyMode, n, kind, mr.status, mr.aux)
				}
				zr, err := gzip.NewReader(bytes.NewReader(mr.out[:mr.result]))
				if err != nil {
					t.Fatalf("copy mode %v: the device's gzip member: %v", copyMode, err)
				}
				if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, in) {
					t.Fatalf("copy mode %v: the device's gzip member does not decompress to its input: %v", copyMode, err)
				}
				member := ring.BufRef{Region: r.h, Off: gz.Off, Len: mr.result}
				back := r.alloc(n)
				if mr := run(fmt.Sprintf("gzip-decompress/%s/%d", kind, n), ring.SQE{Opcode: ring.OpGzipDecompress, Src: member, Dst: back}, back); mr.status != ring.StatusOK ||
					!bytes.Equal(mr.out[:mr.result], in) || int(mr.result) != n || mr.aux != uint64(crc32.ChecksumIEEE(in)) {
					t.Fatalf("copy mode %v: gzip round trip of %d %s bytes: %v, %d bytes", copyMode, n, kind, mr.status, mr.result)
				}
			}
		}
		results[copyMode] = res
	}
	if len(results[false]) != len(results[true]) {
		t.Fatalf("%d jobs in zero-copy mode, %d in copy mode", len(results[false]), len(results[true]))
	}
	for name, z := range results[false] {
		c, ok := results[true][name]
		if !ok {
			t.Fatalf("%s ran only in zero-copy mode", name)
		}
		if z.status != c.status || z.result != c.result || z.aux != c.aux || !bytes.Equal(z.out, c.out) {
			t.Errorf("%s: zero-copy %v (%d bytes, aux %#x), copy mode %v (%d bytes, aux %#x), outputs equal: %v",
				name, z.status, z.result, z.aux, c.status, c.result, c.aux, bytes.Equal(z.out, c.out))
		}
	}
	t.Logf("%d jobs gave identical statuses, lengths, checksums and output bytes in both modes", len(results[false]))
}

// TestCopyModeCounters checks that the queue counters count the client's bytes,
// not the device's copies, in both modes.
func TestCopyModeCounters(t *testing.T) {
	r := newModeRig(t, 1<<20, 8)
	src := r.put(bytes.Repeat([]byte("x"), 4096))
	for _, copyMode := range []bool{false, true} {
		cl := r.queues[copyMode]
		d := r.alloc(32)
		for i := range 10 {
			if c := cl.run(ring.SQE{Opcode: ring.OpSHA256, UserData: uint64(i), Src: src, Dst: d}); c.Status != ring.StatusOK {
				t.Fatalf("copy mode %v: %v", copyMode, c.Status)
			}
		}
		st := cl.q.Stats()
		if st.Completed != 10 || st.BytesIn != 10*4096 || st.BytesOut != 10*32 {
			t.Errorf("copy mode %v: counters %+v", copyMode, st)
		}
	}
}

// BenchmarkCopyMode measures AES-128-GCM seal jobs through the device at depth
// 16 in each buffer mode; the ratio of the two MB/s columns at each size is the
// cost of copy mode.
func BenchmarkCopyMode(b *testing.B) {
	for _, mode := range []struct {
		name string
		copy bool
	}{{"zero-copy", false}, {"copy", true}} {
		b.Run(mode.name, func(b *testing.B) {
			for _, size := range []int{64, 1 << 10, 16 << 10, 256 << 10} {
				b.Run(bytesize.Name(size), func(b *testing.B) { benchmarkSeal(b, mode.copy, size) })
			}
		})
	}
}

func benchmarkSeal(b *testing.B, copyMode bool, size int) {
	const depth = 16
	r := newModeRig(b, depth*(2*size+16+128)+4096, depth)
	key, err := r.ctx.ImportKey(device.KeyAES, make([]byte, 16))
	if err != nil {
		b.Fatal(err)
	}
	aux := r.put(make([]byte, 12))
	var src, dst [depth]ring.BufRef
	for i := range depth {
		src[i] = r.put(bytes.Repeat([]byte{byte(i)}, size))
		dst[i] = r.alloc(size + 16)
	}
	cl := r.queues[copyMode]
	free := make([]int, 0, depth)
	for i := range depth {
		free = append(free, i)
	}
	cqes := make([]byte, depth*ring.CQESize)
	b.SetBytes(int64(size))
	b.ResetTimer()
	submitted, completed := 0, 0
	deadline := time.Now().Add(5 * time.Minute)
	for completed < b.N {
		if k := min(len(free), b.N-submitted); k > 0 {
			n, err := cl.sq.Reserve(k)
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				slot := free[len(free)-1]
				free = free[:len(free)-1]
				s := ring.SQE{Opcode: ring.OpAESGCMSeal, Key: key, UserData: uint64(slot), Src: src[slot], Aux: aux, Dst: dst[slot]}
				s.Encode(cl.sq.Entry(i))
			}
			cl.sq.Commit(n)
			cl.sq.Wake()
			submitted += n
		}
		// Poll, yielding: a client that sleeps on its CQ pays a futex wake-up
		// per batch (~15 us here), which would drown the cost being measured.
		for {
			k, err := cl.cq.Available()
			if err != nil {
				b.Fatal(err)
			}
			if k > 0 || time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
		}
		n, err := cl.cq.Pop(cqes)
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			var c ring.CQE
			if err := c.Decode(cqes[i*ring.CQESize:]); err != nil {
				b.Fatal(err)
			}
			if c.Status != ring.StatusOK || c.Result != uint32(size+16) {
				b.Fatalf("seal of %d bytes: %v, %d bytes", size, c.Status, c.Result)
			}
			free = append(free, int(c.UserData))
		}
		completed += n
		if n == 0 && time.Now().After(deadline) {
			b.Fatalf("%d of %d jobs completed", completed, b.N)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
