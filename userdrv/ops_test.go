package userdrv

// The typed methods against the standard library, on embedded devices, and the
// software fallback against the device: byte-identical for every deterministic
// operation.

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	mrand "math/rand/v2"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/xts"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// opsProfiles are the device profiles the typed methods are checked on.
var opsProfiles = []string{"qat-gen4", "ideal"}

// opsKeySet is one of each kind of key, generated once per test binary.
type opsKeySet struct {
	rsa        *rsa.PrivateKey
	p256, p384 *ecdsa.PrivateKey
	ed         ed25519.PrivateKey
	x          *ecdh.PrivateKey
	aes128     []byte
	aes256     []byte
	chacha     []byte
	xts        []byte
	hmac       []byte
}

var opsKeysOnce struct {
	sync.Once
	k   opsKeySet
	err error
}

func opsStdKeys(t testing.TB) *opsKeySet {
	t.Helper()
	opsKeysOnce.Do(func() {
		k := &opsKeysOnce.k
		if k.rsa, opsKeysOnce.err = rsa.GenerateKey(rand.Reader, 2048); opsKeysOnce.err != nil {
			return
		}
		k.p256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		k.p384, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		_, k.ed, _ = ed25519.GenerateKey(rand.Reader)
		k.x, _ = ecdh.X25519().GenerateKey(rand.Reader)
		r := mrand.New(mrand.NewChaCha8([32]byte{'k', 'e', 'y', 's'}))
		rnd := func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return b
		}
		k.aes128, k.aes256, k.chacha, k.xts, k.hmac = rnd(16), rnd(32), rnd(32), rnd(64), rnd(100)
	})
	if opsKeysOnce.err != nil {
		t.Fatal(opsKeysOnce.err)
	}
	return &opsKeysOnce.k
}

// opsDevKeys are the standard keys imported on one device.
type opsDevKeys struct {
	rsa, p256, p384, ed, x            *Key
	rsaPub, p256Pub, edPub            *Key
	aes128, aes256, chacha, xts, hmac *Key
}

func opsImport(t testing.TB, d *Device, k *opsKeySet) *opsDevKeys {
	t.Helper()
	priv := func(p crypto.PrivateKey) *Key {
		key, err := d.ImportPrivateKey(p)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	pub := func(p crypto.PublicKey) *Key {
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			t.Fatal(err)
		}
		key, err := d.ImportKey(device.KeyPublic, der)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	raw := func(kind device.KeyKind, b []byte) *Key {
		key, err := d.ImportKey(kind, b)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	return &opsDevKeys{
		rsa: priv(k.rsa), p256: priv(k.p256), p384: priv(k.p384), ed: priv(k.ed), x: priv(k.x),
		rsaPub: pub(&k.rsa.PublicKey), p256Pub: pub(&k.p256.PublicKey), edPub: pub(k.ed.Public()),
		aes128: raw(device.KeyAES, k.aes128), aes256: raw(device.KeyAES, k.aes256),
		chacha: raw(device.KeyChaCha20Poly1305, k.chacha), xts: raw(device.KeyAESXTS, k.xts),
		hmac: raw(device.KeyHMAC, k.hmac),
	}
}

// opsRig is a device with a device-only queue, a software-only queue and an
// auto queue, for the operations the device does not offer.
type opsRig struct {
	d               *Device
	dev, soft, auto *Queue
	std             *opsKeySet
	k               *opsDevKeys
}

func newOpsRig(t *testing.T, profile string) *opsRig {
	d := openTest(t, profile)
	r := &opsRig{d: d, std: opsStdKeys(t),
		dev:  newQueue(t, d, WithDepth(64), WithFallback(DeviceOnly), WithBlockWhenFull()),
		soft: newQueue(t, d, WithDepth(64), WithFallback(SoftwareOnly)),
		auto: newQueue(t, d, WithDepth(64))}
	r.k = opsImport(t, d, r.std)
	return r
}

// on returns the device-only queue if the device offers op, else the auto queue.
func (r *opsRig) on(op ring.Opcode) *Queue {
	if r.d.Supports(op) {
		return r.dev
	}
	return r.auto
}

// both runs f on the device (or auto) queue and the software queue and checks
// that the outputs are identical; it returns the device's.
func (r *opsRig) both(t *testing.T, op ring.Opcode, what string, f func(q *Queue) ([]byte, error)) []byte {
	t.Helper()
	a, err := f(r.on(op))
	if err != nil {
		t.Fatalf("%s on the device: %v", what, err)
	}
	b, err := f(r.soft)
	if err != nil {
		t.Fatalf("%s in software: %v", what, err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("%s: the device and software differ:\n%x\n%x", what, a, b)
	}
	return a
}

func opsData(seed byte, n int, compressible bool) []byte {
	r := mrand.New(mrand.NewChaCha8([32]byte{seed}))
	b := make([]byte, n)
	if !compressible {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	words := []string{"accelq ", "ring ", "queue ", "device ", "offload ", "\n", "0123 "}
	for i := 0; i < n; {
		i += copy(b[i:], words[r.IntN(len(words))])
	}
	return b
}

// wantJobErr checks that err is a *JobError with the status.
func wantJobErr(t *testing.T, err error, st ring.Status, sentinel error) {
	t.Helper()
	var je *JobError
	if !errors.As(err, &je) || je.Status != st || !errors.Is(err, sentinel) {
		t.Fatalf("got %v (%T), want a *JobError with status %v", err, err, st)
	}
}

// wantArgErr checks that err is the library refusing an argument: ErrInvalid,
// no *JobError (nothing was submitted).
func wantArgErr(t *testing.T, err error) {
	t.Helper()
	var je *JobError
	if err == nil || !errors.Is(err, ErrInvalid) || errors.As(err, &je) {
		t.Fatalf("got %v, want an argument error matching ErrInvalid", err)
	}
}

func TestOpsAEAD(t *testing.T) {
	ctx := context.Background()
	for _, profile := range opsProfiles {
		t.Run(profile, func(t *testing.T) {
			r := newOpsRig(t, profile)
			gcm := func(k []byte) cipher.AEAD { b, _ := aes.NewCipher(k); a, _ := cipher.NewGCM(b); return a }
			chacha, _ := chacha20poly1305.New(r.std.chacha)
			for _, c := range []struct {
				name string
				key  *Key
				std  cipher.AEAD
				op   ring.Opcode
			}{
				{"aes-128-gcm", r.k.aes128, gcm(r.std.aes128), ring.OpAESGCMSeal},
				{"aes-256-gcm", r.k.aes256, gcm(r.std.aes256), ring.OpAESGCMSeal},
				{"chacha20-poly1305", r.k.chacha, chacha, ring.OpChaCha20Poly1305Seal},
			} {
				for _, n := range []int{0, 1, 64, 4099, 70000} {
					nonce := opsData(byte(n), NonceSize, false)
					pt := opsData(1, n, false)
					aad := opsData(2, n%100, false)
					what := fmt.Sprintf("%s seal %d bytes", c.name, n)
					ct := r.both(t, c.op, what, func(q *Queue) ([]byte, error) { return q.Seal(ctx, c.key, nonce, pt, aad) })
					if want := c.std.Seal(nil, nonce, pt, aad); !bytes.Equal(ct, want) {
						t.Fatalf("%s: differs from the standard library", what)
					}
					// The standard library's ciphertext opens here, on both paths.
					got := r.both(t, c.op+1, what, func(q *Queue) ([]byte, error) { return q.Open(ctx, c.key, nonce, ct, aad) })
					if !bytes.Equal(got, pt) || got == nil {
						t.Fatalf("%s: open gave %d bytes, want the plaintext", what, len(got))
					}
					for _, q := range []*Queue{r.on(c.op + 1), r.soft} {
						bad := bytes.Clone(ct)
						bad[len(bad)-1] ^= 1
						out, err := q.Open(ctx, c.key, nonce, bad, aad)
						wantJobErr(t, err, ring.StatusAuthFailed, ErrAuthFailed)
						if out != nil {
							t.Fatalf("failed open returned %d bytes", len(out))
						}
						_, err = q.Open(ctx, c.key, nonce, ct, append(bytes.Clone(aad), 0))
						wantJobErr(t, err, ring.StatusAuthFailed, ErrAuthFailed)
					}
				}
			}
			q := r.dev
			_, err := q.Seal(ctx, r.k.aes128, make([]byte, 8), nil, nil)
			wantArgErr(t, err)
			_, err = q.Open(ctx, r.k.aes128, make([]byte, 12), make([]byte, 15), nil)
			wantArgErr(t, err)
			_, err = q.Seal(ctx, r.k.hmac, make([]byte, 12), nil, nil)
			wantArgErr(t, err)
			_, err = q.Seal(ctx, nil, make([]byte, 12), nil, nil)
			wantArgErr(t, err)
			_, err = q.Seal(ctx, r.k.aes128, make([]byte, 12), nil, make([]byte, ring.MaxAuxLen))
			wantArgErr(t, err)
		})
	}
}

func TestOpsXTS(t *testing.T) {
	ctx := context.Background()
	for _, profile := range opsProfiles {
		t.Run(profile, func(t *testing.T) {
			r := newOpsRig(t, profile)
			std, err := xts.NewCipher(aes.NewCipher, r.std.xts)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{16, 512, 4096} {
				data := opsData(3, n, false)
				sector := uint64(n) * 0x1234567
				ct := r.both(t, ring.OpAESXTSEncrypt, "xts encrypt", func(q *Queue) ([]byte, error) {
					return q.EncryptXTS(ctx, r.k.xts, sector, data)
				})
				want := make([]byte, n)
				std.Encrypt(want, data, sector)
				if !bytes.Equal(ct, want) {
					t.Fatalf("%d bytes: differs from x/crypto/xts", n)
				}
				pt := r.both(t, ring.OpAESXTSDecrypt, "xts decrypt", func(q *Queue) ([]byte, error) {
					return q.DecryptXTS(ctx, r.k.xts, sector, ct)
				})
				if !bytes.Equal(pt, data) {
					t.Fatalf("%d bytes: decryption differs", n)
				}
			}
			_, err = r.dev.EncryptXTS(ctx, r.k.xts, 0, make([]byte, 17))
			wantArgErr(t, err)
			_, err = r.dev.EncryptXTS(ctx, r.k.xts, 0, nil)
			wantArgErr(t, err)
			_, err = r.dev.EncryptXTS(ctx, r.k.aes256, 0, make([]byte, 16))
			wantArgErr(t, err)
		})
	}
}

func TestOpsHashes(t *testing.T) {
	ctx := context.Background()
	for _, profile := range opsProfiles {
		t.Run(profile, func(t *testing.T) {
			r := newOpsRig(t, profile)
			for _, n := range []int{0, 1, 1000, 1 << 17} {
				data := opsData(4, n, false)
				for _, c := range []struct {
					h   crypto.Hash
					op  ring.Opcode
					std func([]byte) []byte
				}{
					{crypto.SHA256, ring.OpSHA256, func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }},
					{crypto.SHA384, ring.OpSHA384, func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }},
					{crypto.SHA512, ring.OpSHA512, func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }},
				} {
					got := r.both(t, c.op, c.h.String(), func(q *Queue) ([]byte, error) { return q.Digest(ctx, c.h, data) })
					if !bytes.Equal(got, c.std(data)) {
						t.Fatalf("%v of %d bytes differs from the standard library", c.h, n)
					}
				}
				for _, c := range []struct {
					h  crypto.Hash
					op ring.Opcode
					nw func() hash.Hash
				}{{crypto.SHA256, ring.OpHMACSHA256, sha256.New}, {crypto.SHA512, ring.OpHMACSHA512, sha512.New}} {
					got := r.both(t, c.op, "hmac", func(q *Queue) ([]byte, error) { return q.MAC(ctx, r.k.hmac, c.h, data) })
					m := hmac.New(c.nw, r.std.hmac)
					m.Write(data)
					if !bytes.Equal(got, m.Sum(nil)) {
						t.Fatalf("HMAC-%v of %d bytes differs from the standard library", c.h, n)
					}
				}
				castagnoli := crc32.MakeTable(crc32.Castagnoli)
				for _, seed := range []uint32{0, 0xdeadbeef} {
					var sums [2]uint32
					for i, q := range []*Queue{r.on(ring.OpCRC32C), r.soft} {
						s, err := q.CRC32C(ctx, data, seed)
						if err != nil {
							t.Fatal(err)
						}
						sums[i] = s
					}
					if want := crc32.Update(seed, castagnoli, data); sums[0] != want || sums[1] != want {
						t.Fatalf("CRC32C of %d bytes from %#x: device %#x, software %#x, want %#x", n, seed, sums[0], sums[1], want)
					}
				}
			}
			_, err := r.dev.Digest(ctx, crypto.SHA1, nil)
			wantArgErr(t, err)
			_, err = r.dev.MAC(ctx, r.k.hmac, crypto.SHA384, nil)
			wantArgErr(t, err)
			_, err = r.dev.MAC(ctx, r.k.aes128, crypto.SHA256, nil)
			wantArgErr(t, err)
		})
	}
}

func TestOpsSignVerify(t *testing.T) {
	ctx := context.Background()
	for _, profile := range opsProfiles {
		t.Run(profile, func(t *testing.T) {
			r := newOpsRig(t, profile)
			msg := []byte("accelq signs this")
			d256, d384 := sha256.Sum256(msg), sha512.Sum384(msg)
			pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}

			// RSA-PSS: randomised, so checked by verification only.
			for _, q := range []*Queue{r.dev, r.soft} {
				for _, o := range []*rsa.PSSOptions{pss, {SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256}, {SaltLength: 32, Hash: crypto.SHA256}} {
					sig, err := q.Sign(ctx, r.k.rsa, d256[:], o)
					if err != nil {
						t.Fatal(err)
					}
					if err := rsa.VerifyPSS(&r.std.rsa.PublicKey, crypto.SHA256, d256[:], sig, pss); err != nil {
						t.Fatalf("PSS signature does not verify with crypto/rsa: %v", err)
					}
					for _, k := range []*Key{r.k.rsa, r.k.rsaPub} {
						if err := q.Verify(ctx, k, d256[:], sig, pss); err != nil {
							t.Fatalf("PSS signature does not verify here: %v", err)
						}
					}
				}
			}
			std, _ := rsa.SignPSS(rand.Reader, r.std.rsa, crypto.SHA256, d256[:], pss)
			if err := r.dev.Verify(ctx, r.k.rsaPub, d256[:], std, pss); err != nil {
				t.Fatalf("crypto/rsa PSS signature: %v", err)
			}
			err := r.dev.Verify(ctx, r.k.rsaPub, d384[:32], std, pss)
			wantJobErr(t, err, ring.StatusAuthFailed, ErrAuthFailed)
			_, err = r.dev.Sign(ctx, r.k.rsa, d256[:], &rsa.PSSOptions{SaltLength: 20, Hash: crypto.SHA256})
			wantArgErr(t, err)
			_, err = r.dev.Sign(ctx, r.k.rsa, d256[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA1})
			wantArgErr(t, err)
			_, err = r.dev.Sign(ctx, r.k.rsa, d256[:], crypto.SHA384) // digest of the wrong size
			wantArgErr(t, err)
			_, err = r.dev.Sign(ctx, r.k.rsa, d256[:], nil)
			wantArgErr(t, err)

			// RSA PKCS #1 v1.5: deterministic.
			sig := r.both(t, ring.OpRSASignPKCS1v15, "rsa pkcs1v15", func(q *Queue) ([]byte, error) {
				return q.Sign(ctx, r.k.rsa, d384[:], crypto.SHA384)
			})
			if want, _ := rsa.SignPKCS1v15(nil, r.std.rsa, crypto.SHA384, d384[:]); !bytes.Equal(sig, want) {
				t.Fatal("PKCS #1 v1.5 signature differs from crypto/rsa")
			}
			if err := r.dev.Verify(ctx, r.k.rsaPub, d384[:], sig, crypto.SHA384); err != nil {
				t.Fatal(err)
			}
			err = r.dev.Verify(ctx, r.k.rsaPub, d384[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA384})
			wantJobErr(t, err, ring.StatusAuthFailed, ErrAuthFailed)

			// ECDSA: RFC 6979, deterministic, equal to crypto/ecdsa's with a nil rand.
			for _, c := range []struct {
				key, pub *Key
				std      *ecdsa.PrivateKey
				digest   []byte
				h        crypto.Hash
				maxLen   int
			}{
				{r.k.p256, r.k.p256Pub, r.std.p256, d256[:], crypto.SHA256, 72},
				{r.k.p384, r.k.p384, r.std.p384, d384[:], crypto.SHA384, 104},
				{r.k.p256, r.k.p256, r.std.p256, d384[:], crypto.SHA384, 72},
			} {
				sig := r.both(t, ring.OpECDSASign, "ecdsa", func(q *Queue) ([]byte, error) { return q.Sign(ctx, c.key, c.digest, c.h) })
				if !ecdsa.VerifyASN1(&c.std.PublicKey, c.digest, sig) || len(sig) > c.maxLen {
					t.Fatalf("ECDSA signature of %d bytes does not verify with crypto/ecdsa", len(sig))
				}
				if want, _ := c.std.Sign(nil, c.digest, c.h); !bytes.Equal(sig, want) {
					t.Fatal("ECDSA signature differs from crypto/ecdsa's RFC 6979 signature")
				}
				std, _ := ecdsa.SignASN1(rand.Reader, c.std, c.digest)
				if err := r.dev.Verify(ctx, c.pub, c.digest, std, c.h); err != nil {
					t.Fatalf("crypto/ecdsa signature: %v", err)
				}
				std[len(std)-1] ^= 1
				wantJobErr(t, r.dev.Verify(ctx, c.pub, c.digest, std, c.h), ring.StatusAuthFailed, ErrAuthFailed)
			}
			_, err = r.dev.Sign(ctx, r.k.p256, d256[:20], crypto.Hash(0))
			wantArgErr(t, err)
			_, err = r.dev.Sign(ctx, r.k.p256, d256[:], crypto.SHA512)
			wantArgErr(t, err)

			// Ed25519: deterministic; the message is signed whole.
			sig = r.both(t, ring.OpEd25519Sign, "ed25519", func(q *Queue) ([]byte, error) { return q.Sign(ctx, r.k.ed, msg, crypto.Hash(0)) })
			if !bytes.Equal(sig, ed25519.Sign(r.std.ed, msg)) {
				t.Fatal("Ed25519 signature differs from crypto/ed25519")
			}
			for _, k := range []*Key{r.k.ed, r.k.edPub} {
				if err := r.dev.Verify(ctx, k, msg, sig, &ed25519.Options{}); err != nil {
					t.Fatal(err)
				}
				wantJobErr(t, r.dev.Verify(ctx, k, msg[1:], sig, crypto.Hash(0)), ring.StatusAuthFailed, ErrAuthFailed)
				wantJobErr(t, r.soft.Verify(ctx, k, msg, sig[:63], crypto.Hash(0)), ring.StatusAuthFailed, ErrAuthFailed)
			}
			_, err = r.dev.Sign(ctx, r.k.ed, msg, crypto.SHA512)
			wantArgErr(t, err)
			_, err = r.dev.Sign(ctx, r.k.ed, msg, &ed25519.Options{Context: "ctx"})
			wantArgErr(t, err)

			// Keys that cannot sign.
			for _, k := range []*Key{r.k.x, r.k.hmac, r.k.rsaPub, r.k.edPub} {
				_, err := r.dev.Sign(ctx, k, d256[:], crypto.SHA256)
				wantArgErr(t, err)
			}
			wantArgErr(t, r.dev.Verify(ctx, r.k.aes128, d256[:], sig, crypto.SHA256))
		})
	}
}

func TestOpsOAEPAndECDH(t *testing.T) {
	ctx := context.Background()
	for _, profile := range opsProfiles {
		t.Run(profile, func(t *testing.T) {
			r := newOpsRig(t, profile)
			msg := []byte("a session key, say")
			for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA512} {
				for _, label := range [][]byte{nil, []byte("label")} {
					ct, err := rsa.EncryptOAEP(h.New(), rand.Reader, &r.std.rsa.PublicKey, msg, label)
					if err != nil {
						t.Fatal(err)
					}
					pt := r.both(t, ring.OpRSADecryptOAEP, "oaep", func(q *Queue) ([]byte, error) {
						return q.DecryptOAEP(ctx, r.k.rsa, h, ct, label)
					})
					if !bytes.Equal(pt, msg) {
						t.Fatalf("OAEP-%v: got %q", h, pt)
					}
					_, err = r.dev.DecryptOAEP(ctx, r.k.rsa, h, ct, []byte("other"))
					wantJobErr(t, err, ring.StatusAuthFailed, ErrAuthFailed)
				}
			}
			_, err := r.dev.DecryptOAEP(ctx, r.k.rsa, crypto.SHA256, make([]byte, 100), nil)
			wantArgErr(t, err)
			_, err = r.dev.DecryptOAEP(ctx, r.k.p256, crypto.SHA256, make([]byte, 256), nil)
			wantArgErr(t, err)

			peerX, _ := ecdh.X25519().GenerateKey(rand.Reader)
			got := r.both(t, ring.OpX25519, "x25519", func(q *Queue) ([]byte, error) {
				return q.ECDH(ctx, r.k.x, peerX.PublicKey().Bytes())
			})
			if want, _ := peerX.ECDH(r.std.x.PublicKey()); !bytes.Equal(got, want) {
				t.Fatal("X25519 differs from crypto/ecdh")
			}
			_, err = r.dev.ECDH(ctx, r.k.x, make([]byte, 32)) // a low-order point: all-zero secret
			wantJobErr(t, err, ring.StatusInvalid, ErrInvalid)
			for _, c := range []struct {
				key *Key
				std *ecdsa.PrivateKey
				crv ecdh.Curve
			}{{r.k.p256, r.std.p256, ecdh.P256()}, {r.k.p384, r.std.p384, ecdh.P384()}} {
				peer, _ := c.crv.GenerateKey(rand.Reader)
				got := r.both(t, ring.OpECDH, "ecdh", func(q *Queue) ([]byte, error) {
					return q.ECDH(ctx, c.key, peer.PublicKey().Bytes())
				})
				mine, _ := c.std.ECDH()
				if want, _ := peer.ECDH(mine.PublicKey()); !bytes.Equal(got, want) {
					t.Fatalf("ECDH on %v differs from crypto/ecdh", c.crv)
				}
				bad := peer.PublicKey().Bytes()
				bad[len(bad)-1] ^= 1 // off the curve
				_, err := r.dev.ECDH(ctx, c.key, bad)
				wantJobErr(t, err, ring.StatusInvalid, ErrInvalid)
			}
			_, err = r.dev.ECDH(ctx, r.k.x, make([]byte, 65))
			wantArgErr(t, err)
			_, err = r.dev.ECDH(ctx, r.k.rsa, make([]byte, 32))
			wantArgErr(t, err)
		})
	}
}

func opsStdDecompress(t *testing.T, f Format, b []byte) []byte {
	t.Helper()
	var rd io.Reader
	var err error
	switch f {
	case FormatDeflate:
		rd = flate.NewReader(bytes.NewReader(b))
	case FormatZlib:
		rd, err = zlib.NewReader(bytes.NewReader(b))
	case FormatGzip:
		rd, err = gzip.NewReader(bytes.NewReader(b))
	case FormatZstd:
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		out, err := dec.DecodeAll(b, nil)
		if err != nil {
			t.Fatalf("zstd decoder: %v", err)
		}
		return out
	}
	if err != nil {
		t.Fatalf("%v decoder: %v", f, err)
	}
	out, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("%v decoder: %v", f, err)
	}
	return out
}

func TestOpsCompress(t *testing.T) {
	ctx := context.Background()
	for _, profile := range opsProfiles {
		t.Run(profile, func(t *testing.T) {
			r := newOpsRig(t, profile)
			for _, f := range []Format{FormatDeflate, FormatZlib, FormatGzip, FormatZstd} {
				cop, _ := f.CompressOp()
				dop, _ := f.DecompressOp()
				for _, c := range []struct {
					n            int
					compressible bool
					level        int
				}{
					{0, true, 0}, {1, false, 1}, {5000, true, 0}, {5000, true, f.MaxLevel()},
					{100 << 10, true, 1}, {1000, false, 0}, {128 << 10, false, 1}, {300<<10 + 1, false, 1},
					{64<<10 + 1, false, f.MaxLevel()},
				} {
					data := opsData(byte(c.n), c.n, c.compressible)
					what := fmt.Sprintf("%v level %d, %d bytes", f, c.level, c.n)
					z := r.both(t, cop, what, func(q *Queue) ([]byte, error) { return q.Compress(ctx, f, c.level, data) })
					if len(z) > CompressBound(f, c.n) {
						t.Fatalf("%s: %d bytes exceed the bound", what, len(z))
					}
					if got := opsStdDecompress(t, f, z); !bytes.Equal(got, data) {
						t.Fatalf("%s: the standard decoder gives %d bytes back", what, len(got))
					}
					if c.compressible && c.n > 1000 && len(z) > c.n/2 {
						t.Fatalf("%s: compressed to %d bytes", what, len(z))
					}
					got := r.both(t, dop, what, func(q *Queue) ([]byte, error) { return q.Decompress(ctx, f, z, c.n) })
					if !bytes.Equal(got, data) {
						t.Fatalf("%s: decompressed %d bytes differ", what, len(got))
					}
				}
				data := opsData(9, 10000, true)
				z, err := r.dev.Compress(ctx, f, 0, data)
				if err != nil {
					t.Fatal(err)
				}
				_, err = r.on(dop).Decompress(ctx, f, z, len(data)-1)
				wantJobErr(t, err, ring.StatusNoSpace, ErrNoSpace)
				bad := bytes.Clone(z)
				bad[len(bad)/2] ^= 0x55
				bad[len(bad)-2] ^= 0x55
				_, err = r.on(dop).Decompress(ctx, f, bad, len(data)+100)
				wantJobErr(t, err, ring.StatusBadData, ErrBadData)
				_, err = r.dev.Compress(ctx, f, f.MaxLevel()+1, data)
				wantArgErr(t, err)
				if _, err := r.dev.Compress(ctx, f, -1, data); err != nil {
					t.Fatalf("level -1 (default): %v", err)
				}
			}
			_, err := r.dev.Compress(ctx, Format(7), 0, nil)
			wantArgErr(t, err)
			_, err = r.dev.Decompress(ctx, FormatGzip, nil, -1)
			wantArgErr(t, err)
		})
	}
}

func TestOpsRaw(t *testing.T) {
	ctx := context.Background()
	d := openTest(t, "qat-gen4")
	q := newQueue(t, d, WithDepth(16))
	src, dst := alloc(t, d, 1000), alloc(t, d, 64)
	copy(src.Bytes(), opsData(5, 1000, false))
	c, err := q.Raw(ctx, ring.SQE{Opcode: ring.OpSHA256, UserData: 0xfeedface, Src: src.Ref(0, 1000), Dst: dst.Ref(0, 64)})
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(src.Bytes())
	if c.Status != ring.StatusOK || c.Result != 32 || c.UserData != 0xfeedface || !bytes.Equal(dst.Bytes()[:32], want[:]) {
		t.Fatalf("raw sha256: %+v", c)
	}
	seed := alloc(t, d, 4)
	copy(seed.Bytes(), []byte{1, 2, 3, 4})
	c, err = q.Raw(ctx, ring.SQE{Opcode: ring.OpCRC32C, Src: src.Ref(0, 1000), Aux: seed.Ref(0, 4)})
	if err != nil || uint32(c.Aux) != crc32.Update(0x04030201, crc32.MakeTable(crc32.Castagnoli), src.Bytes()) {
		t.Fatalf("raw crc32c: %+v %v", c, err)
	}
	// As is: a reference the driver cannot translate is the device's to refuse,
	// and an auto queue does not run a raw entry in software.
	bad := src.Ref(0, 1000)
	bad.Region += 1000
	c, err = q.Raw(ctx, ring.SQE{Opcode: ring.OpSHA256, UserData: 7, Src: bad, Dst: dst.Ref(0, 64)})
	wantJobErr(t, err, ring.StatusBadAddress, ErrBadAddress)
	if c.Status != ring.StatusBadAddress || c.UserData != 7 || c.Flags&ring.CQEFallback != 0 {
		t.Fatalf("raw with a bad region: %+v", c)
	}
	c, err = q.Raw(ctx, ring.SQE{Opcode: ring.OpSHA256, Src: src.Ref(0, 100), Dst: src.Ref(50, 64)})
	wantJobErr(t, err, ring.StatusBadAddress, ErrBadAddress) // overlapping
	c, err = q.Raw(ctx, ring.SQE{Opcode: ring.Opcode(0x1f)})
	wantJobErr(t, err, ring.StatusInvalid, ErrInvalid)
	if c.Status != ring.StatusInvalid {
		t.Fatalf("raw unknown opcode: %+v", c)
	}
	if c, err = q.Raw(ctx, ring.SQE{Opcode: ring.OpNop}); err != nil || c.Status != ring.StatusOK {
		t.Fatalf("raw nop: %+v %v", c, err)
	}
	if _, err := q.Raw(ctx, ring.SQE{Aux: ring.BufRef{Region: 1, Len: ring.MaxAuxLen + 1}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("raw with an oversized aux: %v", err)
	}
	soft := newQueue(t, d, WithFallback(SoftwareOnly))
	if _, err := soft.Raw(ctx, ring.SQE{Opcode: ring.OpNop}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("raw on a software queue: %v", err)
	}
	if s := q.Stats(); s.Fallbacks != 0 {
		t.Fatalf("raw entries fell back: %+v", s)
	}
}

// Keys from another device, destroyed keys and keys without a software copy.
func TestOpsKeyChecks(t *testing.T) {
	ctx := context.Background()
	d1, d2 := openTest(t, "ideal"), openTest(t, "ideal")
	q := newQueue(t, d1)
	k2, err := d2.ImportKey(device.KeyHMAC, []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = q.MAC(ctx, k2, crypto.SHA256, nil)
	wantArgErr(t, err)
	k1, err := d1.ImportKey(device.KeyHMAC, []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.MAC(ctx, k1, crypto.SHA256, nil); err != nil {
		t.Fatal(err)
	}
	k1.Destroy()
	_, err = q.MAC(ctx, k1, crypto.SHA256, nil)
	wantArgErr(t, err)

	hw, err := d1.ImportKey(device.KeyHMAC, []byte("key"), WithoutSoftwareCopy())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.MAC(ctx, hw, crypto.SHA256, []byte("x")); err != nil {
		t.Fatal(err)
	}
	soft := newQueue(t, d1, WithFallback(SoftwareOnly))
	_, err = soft.MAC(ctx, hw, crypto.SHA256, []byte("x"))
	wantJobErr(t, err, ring.StatusNotPermitted, ErrNotPermitted)
}

// Without a device, every typed method runs in software and Raw is refused.
func TestOpsNoDevice(t *testing.T) {
	ctx := context.Background()
	d, err := Open(WithSocket(t.TempDir()+"/none.sock"), WithSoftwareIfAbsent())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	q := newQueue(t, d)
	got, err := q.Digest(ctx, crypto.SHA256, []byte("abc"))
	if want := sha256.Sum256([]byte("abc")); err != nil || !bytes.Equal(got, want[:]) {
		t.Fatalf("digest without a device: %x %v", got, err)
	}
	k, err := d.ImportPrivateKey(opsStdKeys(t).ed)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := q.Sign(ctx, k, []byte("m"), crypto.Hash(0))
	if err != nil || !ed25519.Verify(opsStdKeys(t).ed.Public().(ed25519.PublicKey), []byte("m"), sig) {
		t.Fatalf("sign without a device: %v", err)
	}
	if _, err := q.Raw(ctx, ring.SQE{Opcode: ring.OpNop}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("raw without a device: %v", err)
	}
}

// A context that ends first: the method returns its error, and the job's
// staging memory comes back when the job completes.
func TestOpsContext(t *testing.T) {
	d := openTest(t, "qat-gen4")
	q := newQueue(t, d, WithFallback(DeviceOnly))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q.Digest(ctx, crypto.SHA512, make([]byte, 1<<20)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled digest: %v", err)
	}
	if _, err := q.Digest(context.Background(), crypto.SHA256, nil); err != nil {
		t.Fatal(err)
	}
}

// TestOpsImportedKeyOwnsMaterial: ImportKey says the caller should zero its own
// copy of the material afterwards, so the key must not depend on it. An Ed25519
// public key does: x509.ParsePKIXPublicKey returns an ed25519.PublicKey that
// aliases the DER it parsed, and device.ParseKey parses the caller's bytes
// without copying them, on the device (the driver's key) and in this process
// (the software copy) alike. In acceld the material is the session's receive
// buffer, so the next control message rewrites the key.
func TestOpsImportedKeyOwnsMaterial(t *testing.T) {
	ctx := context.Background()
	d := openTest(t, "ideal")
	std := opsStdKeys(t)
	msg := []byte("signed before the material was zeroed")
	sig := ed25519.Sign(std.ed, msg)
	der, err := x509.MarshalPKIXPublicKey(std.ed.Public())
	if err != nil {
		t.Fatal(err)
	}
	k, err := d.ImportKey(device.KeyPublic, der)
	if err != nil {
		t.Fatal(err)
	}
	clear(der)
	for _, q := range []*Queue{newQueue(t, d, WithFallback(DeviceOnly)), newQueue(t, d, WithFallback(SoftwareOnly))} {
		if err := q.Verify(ctx, k, msg, sig, crypto.Hash(0)); err != nil {
			t.Errorf("fallback %d: verify after the caller zeroed its material: %v", q.cfg.fallback, err)
		}
	}
}
