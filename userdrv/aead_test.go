package userdrv

// The cipher.AEAD of NewAEAD against crypto/cipher's GCM and x/crypto's
// ChaCha20-Poly1305, in both directions, on an embedded device and against a
// real acceld; the crypto/cipher contract (append, in place, overlap, nonce
// length panics, ErrOpen); faults; concurrent use.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// aeadKind is one AEAD key type.
type aeadKind struct {
	name   string
	kind   device.KeyKind
	keyLen int
	std    func(key []byte) (cipher.AEAD, error)
}

var aeadKinds = []aeadKind{
	{"aes-128-gcm", device.KeyAES, 16, aeadStdGCM},
	{"aes-256-gcm", device.KeyAES, 32, aeadStdGCM},
	{"chacha20-poly1305", device.KeyChaCha20Poly1305, 32, chacha20poly1305.New},
}

func aeadStdGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// aeadPair is the same key as a device AEAD and as the standard library's.
type aeadPair struct {
	dev, std cipher.AEAD
	key      *Key
}

func aeadNewPair(t testing.TB, d *Device, q *Queue, k aeadKind, opts ...KeyOption) aeadPair {
	t.Helper()
	raw := aeadRand(k.keyLen)
	key, err := d.ImportKey(k.kind, raw, opts...)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := NewAEAD(q, key)
	if err != nil {
		t.Fatal(err)
	}
	std, err := k.std(raw)
	if err != nil {
		t.Fatal(err)
	}
	return aeadPair{dev: dev, std: std, key: key}
}

func aeadRand(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// aeadPanics returns what f panicked with, or nil.
func aeadPanics(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// TestAEADInterop: what the device seals the standard library opens and vice
// versa, byte for byte, over plaintexts of 0 to 64 KiB and additional data up
// to the most a job carries.
func TestAEADInterop(t *testing.T) {
	sizes := []int{0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 255, 256, 1000, 1024, 1500, 4095, 4096, 4097, 16384, 65535, 65536}
	aads := []int{0, 1, 13, 16, 100, 1000}
	for _, tg := range sgTargets() {
		t.Run(tg.name, func(t *testing.T) {
			d := tg.open(t)
			q := newQueue(t, d, WithFallback(DeviceOnly)) // every job on the device
			r := mrand.New(mrand.NewPCG(1, 2))
			for _, k := range aeadKinds {
				t.Run(k.name, func(t *testing.T) {
					p := aeadNewPair(t, d, q, k, WithoutSoftwareCopy())
					if p.dev.NonceSize() != 12 || p.dev.Overhead() != 16 {
						t.Fatalf("NonceSize %d Overhead %d", p.dev.NonceSize(), p.dev.Overhead())
					}
					for _, n := range sizes {
						for i, a := range aads {
							if n > 4097 && i%2 == 1 {
								continue // large messages: fewer AAD sizes
							}
							pt, aad, nonce := aeadRand(n), aeadRand(a), aeadRand(12)
							if a == 0 && r.IntN(2) == 0 {
								aad = nil
							}
							want := p.std.Seal(nil, nonce, pt, aad)
							got := p.dev.Seal(nil, nonce, pt, aad)
							if !bytes.Equal(got, want) {
								t.Fatalf("%d-byte plaintext, %d-byte AAD: device Seal differs from the standard library's", n, a)
							}
							back, err := p.dev.Open(nil, nonce, want, aad)
							if err != nil || !bytes.Equal(back, pt) {
								t.Fatalf("%d-byte plaintext, %d-byte AAD: device Open of the standard library's ciphertext: %v", n, a, err)
							}
							if back, err := p.std.Open(nil, nonce, got, aad); err != nil || !bytes.Equal(back, pt) {
								t.Fatalf("%d-byte plaintext, %d-byte AAD: standard Open of the device's ciphertext: %v", n, a, err)
							}
						}
					}
					// The most additional data one job carries.
					aad, nonce, pt := aeadRand(aeadMaxAAD), aeadRand(12), aeadRand(100)
					ct := p.dev.Seal(nil, nonce, pt, aad)
					if back, err := p.std.Open(nil, nonce, ct, aad); err != nil || !bytes.Equal(back, pt) {
						t.Fatalf("%d bytes of AAD: %v", len(aad), err)
					}
					if back, err := p.dev.Open(nil, nonce, ct, aad); err != nil || !bytes.Equal(back, pt) {
						t.Fatalf("%d bytes of AAD: %v", len(aad), err)
					}
				})
			}
			if s := q.Stats(); s.Submitted == 0 || s.Fallbacks != 0 || s.Failed != 0 {
				t.Fatalf("queue stats %+v", s)
			}
		})
	}
}

// TestAEADLimits: additional data beyond what a job carries makes Seal panic
// and Open fail, rather than be truncated.
func TestAEADLimits(t *testing.T) {
	d := openTest(t, "qat-gen4")
	q := newQueue(t, d)
	p := aeadNewPair(t, d, q, aeadKinds[0])
	aad, nonce := aeadRand(aeadMaxAAD+1), aeadRand(12)
	if v := aeadPanics(func() { p.dev.Seal(nil, nonce, []byte("x"), aad) }); v == nil || !strings.Contains(fmt.Sprint(v), "additional data") {
		t.Fatalf("Seal with %d bytes of AAD: panic %v", len(aad), v)
	}
	ct := p.std.Seal(nil, nonce, []byte("x"), aad)
	if _, err := p.dev.Open(nil, nonce, ct, aad); !errors.Is(err, ErrInvalid) || errors.Is(err, ErrAuthFailed) {
		t.Fatalf("Open with %d bytes of AAD: %v, want ErrInvalid", len(aad), err)
	}
}

// TestAEADAppendAndInPlace: Seal and Open append to dst, keep its prefix, use
// its spare capacity, and work in place; inexact overlap panics as in the
// standard library.
func TestAEADAppendAndInPlace(t *testing.T) {
	d := openTest(t, "qat-gen4")
	q := newQueue(t, d)
	for _, k := range aeadKinds {
		t.Run(k.name, func(t *testing.T) {
			p := aeadNewPair(t, d, q, k)
			nonce, aad, pt := aeadRand(12), []byte("header"), aeadRand(1000)
			want := p.std.Seal(nil, nonce, pt, aad)
			prefix := []byte("prefix:")

			// No spare capacity: a new array, the prefix copied, dst untouched.
			dst := bytes.Clone(prefix)
			got := p.dev.Seal(dst, nonce, pt, aad)
			if !bytes.Equal(got, append(bytes.Clone(prefix), want...)) || !bytes.Equal(dst, prefix) {
				t.Fatal("Seal to a full dst: wrong result")
			}
			// Spare capacity: appended in place.
			dst = make([]byte, len(prefix), len(prefix)+len(want)+10)
			copy(dst, prefix)
			got = p.dev.Seal(dst, nonce, pt, aad)
			if !bytes.Equal(got, append(bytes.Clone(prefix), want...)) || &got[0] != &dst[0] {
				t.Fatal("Seal with spare capacity did not append in place")
			}
			opened, err := p.dev.Open(got[:len(prefix)], nonce, got[len(prefix):], aad) // in place, behind a prefix
			if err != nil || !bytes.Equal(opened, append(bytes.Clone(prefix), pt...)) || &opened[0] != &got[0] {
				t.Fatalf("Open in place after a prefix: %v", err)
			}

			// In place: Seal(plaintext[:0], ...) and Open(ciphertext[:0], ...).
			buf := make([]byte, len(pt), len(pt)+16)
			copy(buf, pt)
			ct := p.dev.Seal(buf[:0], nonce, buf, aad)
			if !bytes.Equal(ct, want) || &ct[0] != &buf[0] {
				t.Fatal("Seal in place: wrong result")
			}
			back, err := p.dev.Open(ct[:0], nonce, ct, aad)
			if err != nil || !bytes.Equal(back, pt) || &back[0] != &ct[0] {
				t.Fatalf("Open in place: %v", err)
			}

			// Empty plaintext: the tag alone; and Open returns an empty result.
			tag := p.dev.Seal(prefix[:len(prefix):len(prefix)], nonce, nil, aad)
			if !bytes.Equal(tag[len(prefix):], p.std.Seal(nil, nonce, nil, aad)) || len(tag) != len(prefix)+16 {
				t.Fatal("Seal of nothing: wrong tag")
			}
			if out, err := p.dev.Open(nil, nonce, tag[len(prefix):], aad); err != nil || len(out) != 0 {
				t.Fatalf("Open of a bare tag: %q, %v", out, err)
			}

			// Inexact overlap panics, as it does in the standard library.
			buf = make([]byte, 2*len(pt)+16)
			copy(buf, pt)
			for _, a := range []cipher.AEAD{p.std, p.dev} {
				v := aeadPanics(func() { a.Seal(buf[1:1], nonce, buf[:len(pt)], aad) })
				if v == nil || !strings.Contains(fmt.Sprint(v), "invalid buffer overlap") {
					t.Fatalf("%T Seal with inexact overlap: panic %v", a, v)
				}
			}
			copy(buf, want)
			for _, a := range []cipher.AEAD{p.std, p.dev} {
				v := aeadPanics(func() { a.Open(buf[2:2], nonce, buf[:len(want)], aad) })
				if v == nil || !strings.Contains(fmt.Sprint(v), "invalid buffer overlap") {
					t.Fatalf("%T Open with inexact overlap: panic %v", a, v)
				}
			}
		})
	}
}

// TestAEADForgery: any change to ciphertext, tag, nonce or additional data
// fails Open with ErrOpen, which reads as the standard library's error and
// matches ErrAuthFailed; and Open writes nothing.
func TestAEADForgery(t *testing.T) {
	d := openTest(t, "qat-gen4")
	q := newQueue(t, d)
	for _, k := range aeadKinds {
		t.Run(k.name, func(t *testing.T) {
			p := aeadNewPair(t, d, q, k)
			nonce, aad, pt := aeadRand(12), []byte("additional"), aeadRand(300)
			ct := p.dev.Seal(nil, nonce, pt, aad)
			flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x80; return b }
			for _, c := range []struct {
				name           string
				nonce, ct, aad []byte
			}{
				{"ciphertext", nonce, flip(ct, 5), aad},
				{"tag", nonce, flip(ct, len(ct)-1), aad},
				{"nonce", flip(nonce, 0), ct, aad},
				{"aad", nonce, ct, flip(aad, 3)},
				{"no-aad", nonce, ct, nil},
				{"truncated", nonce, ct[:len(ct)-1], aad},
				{"tag-only", nonce, ct[len(ct)-16:], aad},
				{"shorter-than-tag", nonce, ct[:15], aad},
				{"empty", nonce, nil, aad},
			} {
				dst := make([]byte, 3, 1000)
				copy(dst, "abc")
				out, err := p.dev.Open(dst, c.nonce, c.ct, c.aad)
				if err != ErrOpen || !errors.Is(err, ErrAuthFailed) || !errors.Is(err, ErrOpen) {
					t.Fatalf("%s: Open error %v, want ErrOpen", c.name, err)
				}
				if err.Error() != "cipher: message authentication failed" {
					t.Fatalf("%s: error text %q", c.name, err)
				}
				if out != nil || string(dst[:3]) != "abc" || bytes.ContainsFunc(dst[3:cap(dst)], func(r rune) bool { return r != 0 }) {
					t.Fatalf("%s: Open returned %q and wrote into dst", c.name, out)
				}
				if _, err := p.std.Open(nil, c.nonce, c.ct, c.aad); err == nil {
					t.Fatalf("%s: the standard library accepts the forgery", c.name)
				}
			}
		})
	}
}

// TestAEADNonceLength: a nonce that is not 12 bytes panics, with the standard
// library's message.
func TestAEADNonceLength(t *testing.T) {
	d := openTest(t, "qat-gen4")
	q := newQueue(t, d)
	for _, k := range aeadKinds {
		p := aeadNewPair(t, d, q, k)
		for _, n := range []int{0, 8, 11, 13, 24} {
			nonce := make([]byte, n)
			for _, a := range []cipher.AEAD{p.std, p.dev} {
				sealPanic := aeadPanics(func() { a.Seal(nil, nonce, []byte("x"), nil) })
				openPanic := aeadPanics(func() { a.Open(nil, nonce, make([]byte, 32), nil) })
				if sealPanic == nil || openPanic == nil {
					t.Fatalf("%s %T: %d-byte nonce: Seal panic %v, Open panic %v", k.name, a, n, sealPanic, openPanic)
				}
			}
			devPanic := aeadPanics(func() { p.dev.Seal(nil, nonce, []byte("x"), nil) })
			stdPanic := aeadPanics(func() { p.std.Seal(nil, nonce, []byte("x"), nil) })
			if fmt.Sprint(devPanic) != fmt.Sprint(stdPanic) {
				t.Fatalf("%s: %d-byte nonce: panic %q, the standard library's %q", k.name, n, devPanic, stdPanic)
			}
		}
	}
	p := aeadNewPair(t, d, q, aeadKinds[0])
	if v := aeadPanics(func() { p.dev.Seal(nil, make([]byte, 8), nil, nil) }); fmt.Sprint(v) != "crypto/cipher: incorrect nonce length given to GCM" {
		t.Fatalf("GCM nonce panic %q", v)
	}
}

// TestAEADConcurrent: goroutines seal and open with one AEAD at once.
func TestAEADConcurrent(t *testing.T) {
	for _, tg := range sgTargets() {
		t.Run(tg.name, func(t *testing.T) {
			d := tg.open(t)
			q := newQueue(t, d, WithDepth(16)) // small: the ring fills, and fallback takes the excess
			p := aeadNewPair(t, d, q, aeadKinds[1])
			const goroutines, per = 8, 60
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := 0; g < goroutines; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := mrand.New(mrand.NewPCG(uint64(g), 7))
					for i := 0; i < per; i++ {
						pt := aeadRand(r.IntN(3000))
						nonce, aad := aeadRand(12), []byte(fmt.Sprintf("g%d i%d", g, i))
						ct := p.dev.Seal(nil, nonce, pt, aad)
						back, err := p.std.Open(nil, nonce, ct, aad)
						if err == nil && !bytes.Equal(back, pt) {
							err = errors.New("round trip differs")
						}
						if err == nil {
							back, err = p.dev.Open(ct[:0], nonce, ct, aad)
							if err == nil && !bytes.Equal(back, pt) {
								err = errors.New("device round trip differs")
							}
						}
						if err != nil {
							errs <- fmt.Errorf("goroutine %d message %d: %w", g, i, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if s := q.Stats(); s.Completed != 2*goroutines*per || s.Failed != 0 {
				t.Fatalf("queue stats %+v", s)
			}
		})
	}
}

// TestAEADFaults: a device that fails every job is absorbed by a FallbackAuto
// queue with a key that has a software copy; on a DeviceOnly queue Seal panics
// with the job's error, and Open returns it (not ErrOpen).
func TestAEADFaults(t *testing.T) {
	d := sgFaultDevice(t)
	auto := newQueue(t, d)
	p := aeadNewPair(t, d, auto, aeadKinds[2])
	nonce, aad, pt := aeadRand(12), []byte("aad"), aeadRand(500)
	ct := p.dev.Seal(nil, nonce, pt, aad)
	if !bytes.Equal(ct, p.std.Seal(nil, nonce, pt, aad)) {
		t.Fatal("Seal through the fallback differs")
	}
	if back, err := p.dev.Open(nil, nonce, ct, aad); err != nil || !bytes.Equal(back, pt) {
		t.Fatalf("Open through the fallback: %v", err)
	}
	if s := auto.Stats(); s.FallbackWhy[FallbackFaulted] != 2 || s.Failed != 0 {
		t.Fatalf("auto queue stats %+v", s)
	}
	ct[0] ^= 1
	if _, err := p.dev.Open(nil, nonce, ct, aad); err != ErrOpen {
		t.Fatalf("forgery through the fallback: %v", err)
	}
	ct[0] ^= 1

	only := newQueue(t, d, WithFallback(DeviceOnly))
	strict, err := NewAEAD(only, p.key)
	if err != nil {
		t.Fatal(err)
	}
	v := aeadPanics(func() { strict.Seal(nil, nonce, pt, aad) })
	if err, ok := v.(error); !ok || !errors.Is(err, ErrDevice) {
		t.Fatalf("Seal on a failing device-only queue: panic %v, want an error matching ErrDevice", v)
	}
	if _, err := strict.Open(nil, nonce, ct, aad); !errors.Is(err, ErrDevice) || errors.Is(err, ErrAuthFailed) {
		t.Fatalf("Open on a failing device-only queue: %v, want ErrDevice", err)
	}

	// A closed queue: Seal panics with ErrClosed, Open returns it.
	q := newQueue(t, d)
	a, err := NewAEAD(q, p.key)
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	if v := aeadPanics(func() { a.Seal(nil, nonce, pt, aad) }); !errors.Is(v.(error), ErrClosed) {
		t.Fatalf("Seal on a closed queue: panic %v", v)
	}
	if _, err := a.Open(nil, nonce, ct, aad); !errors.Is(err, ErrClosed) {
		t.Fatalf("Open on a closed queue: %v", err)
	}
}

// TestAEADNewErrors: keys and queues NewAEAD refuses.
func TestAEADNewErrors(t *testing.T) {
	d := openTest(t, "qat-gen4")
	q := newQueue(t, d)
	hmacKey, err := d.ImportKey(device.KeyHMAC, aeadRand(32))
	if err != nil {
		t.Fatal(err)
	}
	xtsKey, err := d.ImportKey(device.KeyAESXTS, aeadRand(64))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := d.ImportPrivateKey(sgKeys(t).p256)
	if err != nil {
		t.Fatal(err)
	}
	other := openTest(t, "qat-gen4")
	otherKey, err := other.ImportKey(device.KeyAES, aeadRand(16))
	if err != nil {
		t.Fatal(err)
	}
	noCopy, err := d.ImportKey(device.KeyAES, aeadRand(16), WithoutSoftwareCopy())
	if err != nil {
		t.Fatal(err)
	}
	gone, err := d.ImportKey(device.KeyAES, aeadRand(16))
	if err != nil {
		t.Fatal(err)
	}
	gone.Destroy()
	soft := newQueue(t, d, WithFallback(SoftwareOnly))
	for _, c := range []struct {
		name string
		q    *Queue
		key  *Key
		want error
	}{
		{"nil-key", q, nil, ErrInvalid},
		{"nil-queue", nil, noCopy, ErrInvalid},
		{"hmac-key", q, hmacKey, ErrInvalid},
		{"xts-key", q, xtsKey, ErrInvalid},
		{"private-key", q, priv, ErrInvalid},
		{"other-device", q, otherKey, ErrInvalid},
		{"destroyed", q, gone, ErrInvalid},
		{"software-only-without-copy", soft, noCopy, ErrNotPermitted},
	} {
		if a, err := NewAEAD(c.q, c.key); !errors.Is(err, c.want) {
			t.Errorf("%s: NewAEAD = %v, %v; want %v", c.name, a, err, c.want)
		}
	}

	// A device that does not offer AEADs: fine with a software copy under
	// FallbackAuto, refused on a DeviceOnly queue.
	iaa := openTest(t, "iaa")
	if iaa.Supports(aeadKinds[0].kindSealOp()) {
		t.Skip("iaa offers AES-GCM now")
	}
	k, err := iaa.ImportKey(device.KeyAES, aeadRand(16))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewAEAD(newQueue(t, iaa, WithDepth(64), WithFallback(DeviceOnly)), k); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("DeviceOnly queue on a device without AES-GCM: %v", err)
	}
	a, err := NewAEAD(newQueue(t, iaa, WithDepth(64)), k)
	if err != nil {
		t.Fatal(err)
	}
	nonce := aeadRand(12)
	ct := a.Seal(nil, nonce, []byte("in software"), nil)
	if back, err := a.Open(nil, nonce, ct, nil); err != nil || string(back) != "in software" {
		t.Fatalf("AEAD in software: %q, %v", back, err)
	}
}

func (k aeadKind) kindSealOp() ring.Opcode {
	if k.kind == device.KeyAES {
		return ring.OpAESGCMSeal
	}
	return ring.OpChaCha20Poly1305Seal
}

// TestAEADNoDevice: with no daemon and WithSoftwareIfAbsent, the AEAD runs in
// software and still matches the standard library.
func TestAEADNoDevice(t *testing.T) {
	d, err := Open(WithSocket(t.TempDir()+"/nobody.sock"), WithSoftwareIfAbsent())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	q := newQueue(t, d)
	for _, k := range aeadKinds {
		p := aeadNewPair(t, d, q, k)
		nonce, pt := aeadRand(12), aeadRand(777)
		if !bytes.Equal(p.dev.Seal(nil, nonce, pt, nil), p.std.Seal(nil, nonce, pt, nil)) {
			t.Fatalf("%s in software: Seal differs", k.name)
		}
	}
}
