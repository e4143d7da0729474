package sim

// How closely the device delivers what its timing model promises. Each cell
// keeps fidelityDepth jobs of one kind in flight on a timing-only device, so
// nothing is computed and whatever falls short of Model.Throughput is the
// device's own path (fetch, validation, translation, scheduling, completion)
// or the client's, not the host's crypto.
//
// Run it with -benchtime 1x: each iteration is one complete measurement whose
// length follows from the prediction, not from b.N. A larger b.N repeats the
// measurement on the same device and reports the mean over all of them.

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/bytesize"
	"github.com/accelq/accelq/ring"
)

const (
	fidelityDepth = 64
	// A window long enough for 2000 jobs at the predicted rate, and never so
	// short that scheduler noise on a shared host dominates, nor so long that
	// the slowest cells (RSA-4096 signatures at ~5k/s) hold up the run.
	fidelityMinJobs   = 2000
	fidelityMinWindow = 40 * time.Millisecond
	fidelityMaxWindow = 500 * time.Millisecond
	// Warm-up: one full round of the ring, and time for the device loop and
	// the Go runtime to settle, before the window opens.
	fidelityWarmup = 5 * time.Millisecond
	// Polls of the CQ before the client sleeps on it: tens of microseconds,
	// which covers the gaps between completions of all but the slowest cells,
	// so that the device seldom pays for waking the client.
	fidelitySpins = 1 << 14
	// No completion for this long is a hang, not a slow device.
	fidelityHang = 10 * time.Second
)

// BenchmarkFidelity measures, per profile, operation and size, the jobs per
// second a timing-only device delivers at depth 64 against what its model
// predicts. Metrics: jobs/s (measured), model-jobs/s (Model.Throughput),
// fidelity (their ratio), and late: completions of the cell the device counted
// as posted after the model's time, over the whole cell (warm-up and drain
// included), from Stats().Classes[class].Late; and front-end-busy, the share
// of the cell's wall time the device's front end spent in rounds with work
// (Stats().FrontEndBusy): a cell below 0.9 fidelity with a front end near
// fully busy was limited by the framework, not the model.
func BenchmarkFidelity(b *testing.B) {
	for _, name := range Profiles() {
		p, err := LoadProfile(name)
		if err != nil {
			b.Fatal(err)
		}
		if p.HostSpeed {
			continue // no model rate to compare with
		}
		b.Run(name, func(b *testing.B) {
			for _, c := range fidelityCells(b, p) {
				b.Run(c.name, func(b *testing.B) { runFidelityCell(b, name, c) })
			}
		})
	}
}

// fidelityCell is one kind of job: the buffer sizes, key and parameter that a
// computing device would accept for it. Buffer contents are not meaningful,
// since a timing-only device validates buffers and keys but reads no data.
type fidelityCell struct {
	name          string // below the profile: op, or op/size
	op            ring.Opcode
	param         uint16
	keyKind       device.KeyKind
	key           []byte
	keyBits       int // as the device sees the key: Key.Bits
	src, aux, dst int
	auxByte0      byte // first aux byte: ECDH needs an uncompressed point's 0x04
}

// fidelityCells lists the cells of a profile: nop, every symmetric and
// compression operation at 64 B and 4 KiB, and every asymmetric operation at
// each key size its cost table lists that a key can be imported at.
func fidelityCells(b *testing.B, p *Profile) []fidelityCell {
	cells := []fidelityCell{{name: ring.OpNop.String(), op: ring.OpNop}}
	for _, o := range p.Ops {
		c, _ := o.Class()
		switch c {
		case ring.ClassSymmetric, ring.ClassCompression:
			for _, n := range []int{64, 4 << 10} {
				cell, ok := dataCell(o, n)
				if !ok {
					b.Fatalf("%s: no job shape for %v", p.Name, o)
				}
				cell.name = fmt.Sprintf("%v/%s", o, bytesize.Name(n))
				cells = append(cells, cell)
			}
		case ring.ClassAsymmetric:
			table, _, _ := lookupTiming(p.Cost, o)
			for _, bits := range slices.Sorted(maps.Keys(table)) {
				cell, ok := asymCell(b, o, bits)
				if !ok {
					continue // no importable key of that size
				}
				cell.name = fmt.Sprintf("%v/%dbit", o, bits)
				cells = append(cells, cell)
			}
		}
	}
	return cells
}

// dataCell shapes a symmetric or compression job of n source bytes.
func dataCell(o ring.Opcode, n int) (fidelityCell, bool) {
	c := fidelityCell{op: o, src: n}
	aesKey := make([]byte, 32)
	xtsKey := make([]byte, 64)
	for i := range xtsKey {
		xtsKey[i] = byte(i) // the two halves must differ
	}
	switch o {
	case ring.OpAESGCMSeal, ring.OpChaCha20Poly1305Seal:
		c.aux, c.dst = 12, n+16 // nonce; ciphertext||tag
	case ring.OpAESGCMOpen, ring.OpChaCha20Poly1305Open:
		c.aux, c.dst = 12, n-16
	case ring.OpAESXTSEncrypt, ring.OpAESXTSDecrypt:
		c.keyKind, c.key, c.aux, c.dst = device.KeyAESXTS, xtsKey, 8, n
	case ring.OpSHA256, ring.OpHMACSHA256:
		c.dst = 32
	case ring.OpSHA384:
		c.dst = 48
	case ring.OpSHA512, ring.OpHMACSHA512:
		c.dst = 64
	case ring.OpCRC32C:
		// The CRC travels in the CQE.
	case ring.OpDeflateCompress, ring.OpZlibCompress, ring.OpGzipCompress, ring.OpZstdCompress:
		c.dst = n + n/2 + 128 // room for incompressible input and framing
	case ring.OpDeflateDecompress, ring.OpZlibDecompress, ring.OpGzipDecompress, ring.OpZstdDecompress:
		c.dst = 8 * n
	default:
		return c, false
	}
	switch o {
	case ring.OpAESGCMSeal, ring.OpAESGCMOpen:
		c.keyKind, c.key = device.KeyAES, aesKey
	case ring.OpChaCha20Poly1305Seal, ring.OpChaCha20Poly1305Open:
		c.keyKind, c.key = device.KeyChaCha20Poly1305, aesKey
	case ring.OpHMACSHA256, ring.OpHMACSHA512:
		c.keyKind, c.key = device.KeyHMAC, aesKey
	}
	return c, true
}

// asymCell shapes an asymmetric job with a key of the given size, if a key of
// that size exists for the operation and the device imports it.
func asymCell(b *testing.B, o ring.Opcode, bits int) (fidelityCell, bool) {
	c := fidelityCell{op: o}
	var alg string
	switch o {
	case ring.OpRSASignPSS, ring.OpRSASignPKCS1v15, ring.OpRSAVerifyPSS, ring.OpRSAVerifyPKCS1v15, ring.OpRSADecryptOAEP:
		alg = "rsa"
	case ring.OpECDSASign, ring.OpECDSAVerify, ring.OpECDH:
		alg = "ec"
	case ring.OpEd25519Sign, ring.OpEd25519Verify:
		alg = "ed25519"
	case ring.OpX25519:
		alg = "x25519"
	default:
		b.Fatalf("no job shape for %v", o)
	}
	der, ok := fidelityKey(b, alg, bits)
	if !ok {
		return c, false
	}
	k, err := device.ParseKey(device.KeyPrivate, der)
	if err != nil || !k.Allows(o) {
		return c, false
	}
	c.keyKind, c.key, c.keyBits = device.KeyPrivate, der, k.Bits()
	size := (c.keyBits + 7) / 8 // modulus, or field element
	const sha256 = 5            // crypto.SHA256, the hash RSA jobs name in Param
	switch o {
	case ring.OpRSASignPSS, ring.OpRSASignPKCS1v15:
		c.param, c.src, c.dst = sha256, 32, size
	case ring.OpRSAVerifyPSS, ring.OpRSAVerifyPKCS1v15:
		c.param, c.src, c.aux = sha256, 32, size
	case ring.OpRSADecryptOAEP:
		c.param, c.src, c.dst = sha256, size, size
	case ring.OpECDSASign:
		c.src, c.dst = size, ecdsaSigMax(size) // a digest as long as the curve's order
	case ring.OpECDSAVerify:
		c.src, c.aux = size, ecdsaSigMax(size)
	case ring.OpEd25519Sign:
		c.src, c.dst = 32, ed25519.SignatureSize
	case ring.OpEd25519Verify:
		c.src, c.aux = 32, ed25519.SignatureSize
	case ring.OpX25519:
		c.aux, c.dst = 32, 32
	case ring.OpECDH:
		c.aux, c.dst, c.auxByte0 = 1+2*size, size, 4
	}
	return c, true
}

// ecdsaSigMax is the longest DER signature on a curve of size-byte elements.
func ecdsaSigMax(size int) int {
	body := 2 * (2 + size + 1)
	if body < 128 {
		return 2 + body
	}
	return 3 + body
}

// fidelityKeys caches generated keys (PKCS #8 DER) across profiles: an
// RSA-4096 key takes the better part of a second to generate.
var fidelityKeys = struct {
	sync.Mutex
	m map[string][]byte
}{m: map[string][]byte{}}

// fidelityKey returns a private key of the algorithm and size, or false if
// there is no such key (an EC curve of another size, Ed25519 at 384 bits).
func fidelityKey(b *testing.B, alg string, bits int) ([]byte, bool) {
	fidelityKeys.Lock()
	defer fidelityKeys.Unlock()
	id := fmt.Sprintf("%s-%d", alg, bits)
	if der, ok := fidelityKeys.m[id]; ok {
		return der, der != nil
	}
	var priv any
	var err error
	switch {
	case alg == "rsa" && bits >= 2048 && bits <= 4096:
		priv, err = rsa.GenerateKey(rand.Reader, bits)
	case alg == "ec" && bits == 256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case alg == "ec" && bits == 384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case alg == "ed25519" && bits == 256:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case alg == "x25519" && bits == 256:
		priv, err = ecdh.X25519().GenerateKey(rand.Reader)
	}
	var der []byte
	if priv != nil && err == nil {
		der, err = x509.MarshalPKCS8PrivateKey(priv)
	}
	if err != nil {
		b.Fatalf("%s key: %v", id, err)
	}
	fidelityKeys.m[id] = der
	return der, der != nil
}

// runFidelityCell measures one cell on a device of its own, so that its late
// count and its model start from idle.
func runFidelityCell(b *testing.B, profile string, c fidelityCell) {
	// The client sleeps on an eventfd, parked in the runtime's poller, not on
	// the ring's default futex: a goroutine in a futex system call keeps its P
	// until sysmon takes it back, and on two cores that starves the device loop
	// it is waiting for (the nop cell fell from ~6M/s to ~0.55M/s in most runs).
	efd, err := ring.NewEventNotifier()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { efd.Close() }) // after the device's Close: cleanups run last first
	d := startDevice(b, profile, WithTimingOnly())
	p := d.Profile()
	h := newHarness(b, d, min(2*fidelityDepth, p.MaxDepth), func(qc *device.QueueConfig) { qc.CQNotifier = efd })
	h.cq.SetNotifier(efd)
	sqe := ring.SQE{Opcode: c.op, Param: c.param}
	if c.key != nil {
		sqe.Key = h.space.addKey(b, c.keyKind, c.key)
	}
	// One set of buffers serves every job in flight: nothing writes them.
	if c.src > 0 {
		r, _ := h.region(c.src, false)
		sqe.Src = ref(r, 0, c.src)
	}
	if c.aux > 0 {
		r, mem := h.region(c.aux, false)
		mem[0] = c.auxByte0
		sqe.Aux = ref(r, 0, c.aux)
	}
	if c.dst > 0 {
		r, _ := h.region(c.dst, true)
		sqe.Dst = ref(r, 0, c.dst)
	}
	var enc [ring.SQESize]byte
	if err := sqe.Encode(enc[:]); err != nil {
		b.Fatal(err)
	}
	class, _ := c.op.Class()
	want := NewModel(p).Throughput(Job{Op: c.op, KeyBits: c.keyBits, Bytes: c.src}, fidelityDepth)
	window := fidelityMinWindow
	if want > 0 && !math.IsInf(want, 1) {
		window = max(window, time.Duration(fidelityMinJobs/want*float64(time.Second)))
	}
	window = min(window, fidelityMaxWindow)

	b.ResetTimer()
	var jobs int
	var elapsed time.Duration
	busy0, wall0 := d.Stats().FrontEndBusy, time.Now()
	for range b.N {
		n, el := fidelityLoop(b, h, enc[:], window)
		jobs += n
		elapsed += el
	}
	busy := (d.Stats().FrontEndBusy - busy0).Seconds() / time.Since(wall0).Seconds()
	b.StopTimer()
	got := float64(jobs) / elapsed.Seconds()
	b.ReportMetric(0, "ns/op") // elapsed per iteration says nothing here
	b.ReportMetric(got, "jobs/s")
	b.ReportMetric(want, "model-jobs/s")
	b.ReportMetric(got/want, "fidelity")
	b.ReportMetric(float64(d.Stats().Classes[class].Late), "late")
	// The front end's busy fraction says who set a low rate: near 1, the
	// framework could not keep up; well below, the model's rate was not
	// reachable for another reason (the client, the host).
	b.ReportMetric(busy, "front-end-busy")
}

// fidelityLoop keeps fidelityDepth copies of the encoded SQE in flight: it warms
// up, counts the completions reaped during window and how long that took, and
// drains. Every completion must be StatusOK.
func fidelityLoop(b *testing.B, h *harness, enc []byte, window time.Duration) (jobs int, elapsed time.Duration) {
	const (
		warming = iota
		measuring
		draining
	)
	phase, inflight, reaped := warming, 0, 0
	begin := time.Now()
	var start time.Time
	progress := begin
	for phase != draining || inflight > 0 {
		if phase != draining && inflight < fidelityDepth {
			n, err := h.sq.Reserve(fidelityDepth - inflight)
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				copy(h.sq.Entry(i), enc)
			}
			h.sq.Commit(n)
			inflight += n
			if _, err := h.sq.Wake(); err != nil {
				b.Fatal(err)
			}
		}
		ready, err := h.cq.Wait(fidelitySpins, 100*time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		if ready == 0 {
			if now.Sub(progress) > fidelityHang {
				b.Fatalf("no completion for %v with %d jobs in flight", fidelityHang, inflight)
			}
			continue
		}
		n, err := h.cq.Pop(h.buf)
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			var cqe ring.CQE
			if err := cqe.Decode(h.buf[i*ring.CQESize:]); err != nil {
				b.Fatal(err)
			}
			if cqe.Status != ring.StatusOK {
				b.Fatalf("completion %d: status %v, flags %#x", reaped+i, cqe.Status, cqe.Flags)
			}
		}
		inflight -= n
		reaped += n
		progress = now
		switch phase {
		case warming:
			if reaped >= fidelityDepth && now.Sub(begin) >= fidelityWarmup {
				phase, start = measuring, now
			}
		case measuring:
			jobs += n
			if elapsed = now.Sub(start); elapsed >= window {
				phase = draining
			}
		}
	}
	return jobs, elapsed
}
