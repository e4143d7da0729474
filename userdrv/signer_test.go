package userdrv

// The crypto.Signer of NewSigner: signatures checked by the standard library
// and by openssl, refused arguments, x509 certificates, and fault fallback; on
// an embedded device and against a real acceld.

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/sim"
)

// sgTarget is where a test's device lives: embedded in the test binary, or a
// real acceld process reached over its socket.
type sgTarget struct {
	name string
	open func(t *testing.T) *Device
}

func sgTargets() []sgTarget {
	return []sgTarget{
		{"embedded", func(t *testing.T) *Device { return openTest(t, "qat-gen4") }},
		{"acceld", func(t *testing.T) *Device {
			dm := startDaemon(t, "--profile", "qat-gen4")
			d, err := Open(WithSocket(dm.Socket))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() }) // before the daemon's stop: cleanups run last first
			return d
		}},
	}
}

// sgRSAKeyPEM is a 2048-bit RSA key for tests only, so that no test binary pays
// for RSA key generation (slow under the race detector). "TESTING KEY" keeps
// secret scanners quiet, as in the standard library's tests.
const sgRSAKeyPEM = `-----BEGIN TESTING KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCvOzyNX1u6bQ2o
J3iP6wkDlsznKCLUdIVeouIknX1J1jFxgNvYVsDfr0rEKPbbdJAZV6C9O2S6VwJ4
vmWx7cz2ZB+ZNS7+HZNGiCfOkasyJxbeHk0oyHlN0PElWQnK0JAP/vbwkr15Ozfm
Ytef0yBIv1BiGhDFeFTvLfsloJwLZsrCVGy+ipi8gQagppolTI0HQmz/GR0OnoOG
9ILxZlBydSx2XPF0OEV/sXrqoFOtJp0gnDCGoEzFPY4MnnGP/YxujqXwbAxiWy7x
IBQssfgylNX5Jo1ojuBUK+QNgJaaNYKNZSCBPaJS5PJU3dNYk15hskR+AIjE58x1
ZgpdKLtvAgMBAAECggEAJIcfJMM7jl2cSrDLr4iJrP9bAFa8B/iwMp2WsZZI30Lw
tJ3tdigDdb2HQuPdLbsbLMU5Ayll4ngv0jayYUhWgQg3FAtjm+JTaJEKZ0OzYbWH
TU8Yu4cqzj9ffW8VnPskBMmb9WNJbwOasAJru2vZ34BOA902IMvoPKGjqGDWFoQD
Aoz5jSh/7KL529g+RnuPes2BpYWUtHt1BX/g3hgCN2+WiKIx7zNnFg6XBULuWwLe
D9zipWIuZSXiBPmi+jp56D6A7VDIOdJNQkKNL+0kY1bS3oXTPXJ0IkiJjTJyHS3c
0CLG6w3ZaTpzlf9cudayZ6r3aq9vNTm30PDpJ2cRCQKBgQDiPoedVLZSGezhCuQr
0JgclMyzDsGuaDW/1QjTgpYXZq7WOV1vqgnWwS5tn2L5x0UbEsssIibnynXdIFRP
vaKuKaL6ghbqOhQdFwa67KKoCMITezzdlvB/FUvvuUGkP/+LQhwEtgaq7ZbpYosN
KYrN2RUNrKPrJqa20ttWr9/N9wKBgQDGRySSSPN3EBvabVQh2CHnEPPsdUUvjirl
80iOpl3pD30bMpM0coY8uMPi/m4lEKXjocUDya0ghUhZOAAwklgXpK1vVs1VJyvo
BptxlT19LwTym0hBrS1uJvX+i/TUNW1PqCmnjQZnzIVKLWEuGvTPMHgg4/2td9we
ftJIQqEASQKBgQCbklXcmOi58fvSD5QwkMJYPPW5VrdV/3CeVZY5Iv2kX8Zvpoia
hTk4xCPx23zKtvzNDhJJab6I+s4rXNS89HCOBDF+wr+RFpjIHBJTrO54T3Vswfxr
fyQmrvVFhYUetac6Eh6EGsrg9HkmSM3HIj7BJ7nzajhZNX3ED6AlrtBdpwKBgEiM
x4jvQIaUUly+HEa1+tG9lkMzNbmM3418U1Q+86XPkQtemhZawVt+j86DInJVgR2l
l50nMj3wBuT+ZLNhGPKtwvg2XrOFvb8Mi9wnq3QevES5JNtDLphbkS8ursrnMbQv
5+3y4CEi6LKXoDNqkaEuLwZ55dyPOu+9n9vo5VhhAoGAdU/cJtYYrnikiBBTWz7J
u9XZGmFiV+N6ITqvpyGCgBbNopKcAMWo8SPqcXZAryrR2BYG4w5PpJMv54R4d8QR
olJHiipPZ0zjTv3V51D/C/qPmQZuP+U5K1UyDP0XkufHulbTeBPaVHLMiqI3oQCm
yu2qDHbSvpaNlmSOL+pxH1I=
-----END TESTING KEY-----`

// sgKeySet is one private key of each kind a Signer takes.
type sgKeySet struct {
	rsa        *rsa.PrivateKey
	p256, p384 *ecdsa.PrivateKey
	ed         ed25519.PrivateKey
}

var sgKeysOnce struct {
	sync.Once
	k   sgKeySet
	err error
}

func (k *sgKeySet) byName() map[string]crypto.Signer {
	return map[string]crypto.Signer{"rsa": k.rsa, "p256": k.p256, "p384": k.p384, "ed": k.ed}
}

func sgKeys(t testing.TB) *sgKeySet {
	t.Helper()
	sgKeysOnce.Do(func() {
		k := &sgKeysOnce.k
		block, _ := pem.Decode([]byte(strings.ReplaceAll(sgRSAKeyPEM, "TESTING KEY", "PRIVATE KEY")))
		if block == nil {
			sgKeysOnce.err = errors.New("no PEM block in the test RSA key")
			return
		}
		priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			sgKeysOnce.err = err
			return
		}
		k.rsa = priv.(*rsa.PrivateKey)
		if k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err == nil {
			if k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err == nil {
				_, k.ed, err = ed25519.GenerateKey(rand.Reader)
			}
		}
		sgKeysOnce.err = err
	})
	if sgKeysOnce.err != nil {
		t.Fatal(sgKeysOnce.err)
	}
	return &sgKeysOnce.k
}

// sgSigner imports priv on d and returns a Signer over it on q.
func sgSigner(t testing.TB, d *Device, q *Queue, priv crypto.PrivateKey, opts ...KeyOption) crypto.Signer {
	t.Helper()
	key, err := d.ImportPrivateKey(priv, opts...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(q, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sgDigest(h crypto.Hash, msg []byte) []byte {
	w := h.New()
	w.Write(msg)
	return w.Sum(nil)
}

// sgCase is one signature to make and check.
type sgCase struct {
	name string
	key  string        // which key: rsa, p256, p384 or ed
	priv crypto.Signer // the standard library's key
	hash crypto.Hash   // 0 for Ed25519
	opts crypto.SignerOpts
	// openssl: how to check the signature with openssl; "" skips it.
	openssl string
}

func sgCases(k *sgKeySet) []sgCase {
	var cs []sgCase
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		name := strings.ToLower(strings.ReplaceAll(h.String(), "-", ""))
		cs = append(cs,
			sgCase{"rsa-pss-" + name, "rsa", k.rsa, h, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}, "pss"},
			sgCase{"rsa-pss-auto-" + name, "rsa", k.rsa, h, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: h}, ""},
			sgCase{"rsa-pss-exact-" + name, "rsa", k.rsa, h, &rsa.PSSOptions{SaltLength: h.Size(), Hash: h}, ""},
			sgCase{"rsa-pkcs1v15-" + name, "rsa", k.rsa, h, h, "dgst"},
		)
	}
	cs = append(cs,
		sgCase{"ecdsa-p256-sha256", "p256", k.p256, crypto.SHA256, crypto.SHA256, "dgst"},
		sgCase{"ecdsa-p256-sha384", "p256", k.p256, crypto.SHA384, crypto.SHA384, ""},
		sgCase{"ecdsa-p256-sha512", "p256", k.p256, crypto.SHA512, crypto.SHA512, ""},
		sgCase{"ecdsa-p384-sha384", "p384", k.p384, crypto.SHA384, crypto.SHA384, "dgst"},
		sgCase{"ecdsa-p384-sha256", "p384", k.p384, crypto.SHA256, crypto.SHA256, ""},
		sgCase{"ed25519", "ed", k.ed, 0, crypto.Hash(0), "pkeyutl"},
		sgCase{"ed25519-options", "ed", k.ed, 0, &ed25519.Options{}, ""},
	)
	return cs
}

// sgVerify checks sig with the standard library, and for the deterministic
// algorithms that it is exactly what the standard library signs.
func sgVerify(t *testing.T, c sgCase, msg, sig []byte) {
	t.Helper()
	switch priv := c.priv.(type) {
	case *rsa.PrivateKey:
		digest := sgDigest(c.hash, msg)
		if pss, ok := c.opts.(*rsa.PSSOptions); ok {
			// The salt is as long as the hash, whatever the accepted options said.
			if err := rsa.VerifyPSS(&priv.PublicKey, c.hash, digest, sig,
				&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
				t.Fatalf("rsa.VerifyPSS (salt length %d): %v", pss.SaltLength, err)
			}
			return
		}
		if err := rsa.VerifyPKCS1v15(&priv.PublicKey, c.hash, digest, sig); err != nil {
			t.Fatalf("rsa.VerifyPKCS1v15: %v", err)
		}
		want, _ := rsa.SignPKCS1v15(nil, priv, c.hash, digest)
		if !bytes.Equal(sig, want) {
			t.Fatal("PKCS #1 v1.5 signature differs from the standard library's")
		}
	case *ecdsa.PrivateKey:
		digest := sgDigest(c.hash, msg)
		if !ecdsa.VerifyASN1(&priv.PublicKey, digest, sig) {
			t.Fatal("ecdsa.VerifyASN1 failed")
		}
		want, err := priv.Sign(nil, digest, c.hash) // nil rand: RFC 6979
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sig, want) {
			t.Fatal("ECDSA signature differs from the standard library's RFC 6979 signature")
		}
	case ed25519.PrivateKey:
		if !ed25519.Verify(priv.Public().(ed25519.PublicKey), msg, sig) {
			t.Fatal("ed25519.Verify failed")
		}
		if !bytes.Equal(sig, ed25519.Sign(priv, msg)) {
			t.Fatal("Ed25519 signature differs from the standard library's")
		}
	default:
		t.Fatalf("no check for %T", priv)
	}
}

// sgSign signs msg for c with s: the digest, or the message for Ed25519.
func sgSign(s crypto.Signer, c sgCase, msg []byte) ([]byte, error) {
	if c.hash == 0 {
		return s.Sign(rand.Reader, msg, c.opts)
	}
	return s.Sign(rand.Reader, sgDigest(c.hash, msg), c.opts)
}

// TestSignerStdVerify: every algorithm and option the Signer takes gives a
// signature the standard library verifies (and, where signing is
// deterministic, the very bytes it signs), on the device itself: the queues are
// DeviceOnly, so nothing ran in software.
func TestSignerStdVerify(t *testing.T) {
	k := sgKeys(t)
	for _, tg := range sgTargets() {
		t.Run(tg.name, func(t *testing.T) {
			d := tg.open(t)
			q := newQueue(t, d, WithFallback(DeviceOnly))
			signers := map[string]crypto.Signer{}
			for name, p := range k.byName() {
				signers[name] = sgSigner(t, d, q, p, WithoutSoftwareCopy())
				if pub := signers[name].Public(); !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(p.Public()) {
					t.Fatalf("Public() of the %s signer is not the key's", name)
				}
			}
			before := q.Stats()
			for _, c := range sgCases(k) {
				t.Run(c.name, func(t *testing.T) {
					for _, msg := range [][]byte{nil, []byte("accelq"), bytes.Repeat([]byte{0xa5}, 5000)} {
						sig, err := sgSign(signers[c.key], c, msg)
						if err != nil {
							t.Fatalf("Sign(%d-byte message): %v", len(msg), err)
						}
						sgVerify(t, c, msg, sig)
					}
				})
			}
			if s := q.Stats(); s.Submitted == before.Submitted || s.Fallbacks != 0 {
				t.Fatalf("stats before %+v after %+v: want device jobs and no fallback", before, s)
			}
		})
	}
}

// TestSignerSoftwareFallbackIdentical: a SoftwareOnly queue signs the same
// bytes the device does (for the deterministic algorithms), and a device that
// fails every job is absorbed by a FallbackAuto queue but not by a DeviceOnly one.
func TestSignerSoftwareFallbackIdentical(t *testing.T) {
	k := sgKeys(t)
	d := openTest(t, "qat-gen4")
	dev, soft := newQueue(t, d, WithFallback(DeviceOnly)), newQueue(t, d, WithFallback(SoftwareOnly))
	msg := []byte("the same bytes either way")
	for _, c := range sgCases(k) {
		if _, pss := c.opts.(*rsa.PSSOptions); pss {
			continue // salted
		}
		a, err := sgSign(sgSigner(t, d, dev, c.priv), c, msg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := sgSign(sgSigner(t, d, soft, c.priv), c, msg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: device and software signatures differ", c.name)
		}
	}
	if s := soft.Stats(); s.FallbackWhy[FallbackPolicy] == 0 {
		t.Fatalf("software-only queue stats %+v", s)
	}

	fd := sgFaultDevice(t)
	auto, only := newQueue(t, fd), newQueue(t, fd, WithFallback(DeviceOnly))
	c := sgCases(k)[0] // RSA-PSS SHA-256
	for _, cc := range []sgCase{c, {"ecdsa", "p256", k.p256, crypto.SHA256, crypto.SHA256, ""}, {"ed25519", "ed", k.ed, 0, crypto.Hash(0), ""}} {
		sig, err := sgSign(sgSigner(t, fd, auto, cc.priv), cc, msg)
		if err != nil {
			t.Fatalf("%s on a failing device with fallback: %v", cc.name, err)
		}
		sgVerify(t, cc, msg, sig)
		if _, err := sgSign(sgSigner(t, fd, only, cc.priv), cc, msg); !errors.Is(err, ErrDevice) {
			t.Fatalf("%s on a failing device, device only: %v, want ErrDevice", cc.name, err)
		}
	}
	if s := auto.Stats(); s.FallbackWhy[FallbackFaulted] != 3 {
		t.Fatalf("auto queue stats %+v, want 3 faulted fallbacks", s)
	}
}

// sgFaultDevice is an embedded qat-gen4 that fails every job with a device error.
func sgFaultDevice(t *testing.T) *Device {
	t.Helper()
	return faultDevice(t, sim.Faults{ErrorRate: 1})
}

// TestSignerConcurrent: goroutines share one Signer.
func TestSignerConcurrent(t *testing.T) {
	k := sgKeys(t)
	d := openTest(t, "qat-gen4")
	q := newQueue(t, d)
	s := sgSigner(t, d, q, k.p256)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				digest := sha256.Sum256([]byte(fmt.Sprintf("goroutine %d message %d", g, i)))
				sig, err := s.Sign(nil, digest[:], crypto.SHA256)
				if err == nil && !ecdsa.VerifyASN1(&k.p256.PublicKey, digest[:], sig) {
					err = errors.New("signature does not verify")
				}
				if err != nil {
					errs <- err
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
}

// TestSignerOpenSSL: openssl verifies what the Signer signs.
func TestSignerOpenSSL(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is not installed, and CI is set")
		}
		t.Skip("openssl is not installed")
	}
	k := sgKeys(t)
	d := openTest(t, "qat-gen4")
	q := newQueue(t, d, WithFallback(DeviceOnly))
	dir := t.TempDir()
	msg := []byte("verified by openssl\n")
	msgPath := filepath.Join(dir, "msg")
	if err := os.WriteFile(msgPath, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	signers := map[string]crypto.Signer{}
	for i, c := range sgCases(k) {
		if c.openssl == "" {
			continue
		}
		s := signers[c.key]
		if s == nil {
			s = sgSigner(t, d, q, c.priv)
			signers[c.key] = s
		}
		sig, err := sgSign(s, c, msg)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		der, err := x509.MarshalPKIXPublicKey(s.Public())
		if err != nil {
			t.Fatal(err)
		}
		pubPath, sigPath := filepath.Join(dir, fmt.Sprintf("pub%d.pem", i)), filepath.Join(dir, fmt.Sprintf("sig%d", i))
		if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		var args []string
		switch c.openssl {
		case "dgst", "pss":
			args = []string{"dgst", "-" + strings.ToLower(strings.ReplaceAll(c.hash.String(), "-", "")),
				"-verify", pubPath, "-signature", sigPath}
			if c.openssl == "pss" {
				args = append(args, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest")
			}
			args = append(args, msgPath)
		case "pkeyutl":
			args = []string{"pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-in", msgPath, "-sigfile", sigPath}
		}
		verify := func(sig []byte) ([]byte, error) {
			if err := os.WriteFile(sigPath, sig, 0o600); err != nil {
				t.Fatal(err)
			}
			return exec.Command(bin, args...).CombinedOutput()
		}
		if out, err := verify(sig); err != nil {
			t.Fatalf("%s: openssl %s: %v\n%s", c.name, strings.Join(args, " "), err, out)
		}
		bad := bytes.Clone(sig)
		bad[len(bad)/2] ^= 1
		if out, err := verify(bad); err == nil {
			t.Fatalf("%s: openssl accepted a corrupted signature:\n%s", c.name, out)
		}
	}
}

// TestSignerBadArguments: what the Signer refuses, and which keys and queues
// NewSigner refuses.
func TestSignerBadArguments(t *testing.T) {
	k := sgKeys(t)
	d := openTest(t, "qat-gen4")
	q := newQueue(t, d)
	rsaS, ecS, edS := sgSigner(t, d, q, k.rsa), sgSigner(t, d, q, k.p256), sgSigner(t, d, q, k.ed)
	d32, d48, d20 := make([]byte, 32), make([]byte, 48), make([]byte, 20)
	for _, c := range []struct {
		name   string
		s      crypto.Signer
		digest []byte
		opts   crypto.SignerOpts
		want   string // in the error
	}{
		{"rsa-short-digest", rsaS, d32[:31], crypto.SHA256, "digest of 31 bytes"},
		{"rsa-digest-of-another-hash", rsaS, d48, crypto.SHA256, "digest of 48 bytes"},
		{"rsa-sha1", rsaS, d20, crypto.SHA1, "want SHA-256"},
		{"rsa-md5", rsaS, d20[:16], crypto.MD5, "want SHA-256"},
		{"rsa-no-hash", rsaS, d32, crypto.Hash(0), "want SHA-256"},
		{"rsa-nil-opts", rsaS, d32, nil, "want SHA-256"},
		{"rsa-pss-salt", rsaS, d32, &rsa.PSSOptions{SaltLength: 20, Hash: crypto.SHA256}, "salt length 20"},
		{"rsa-pss-sha1", rsaS, d20, &rsa.PSSOptions{Hash: crypto.SHA1}, "want SHA-256"},
		{"ecdsa-20-byte-digest", ecS, d20, crypto.SHA1, "want 32, 48 or 64"},
		{"ecdsa-empty-digest", ecS, nil, crypto.SHA256, "want 32, 48 or 64"},
		{"ecdsa-hash-mismatch", ecS, d32, crypto.SHA384, "hash SHA-384"},
		{"ed25519ph", edS, make([]byte, 64), crypto.SHA512, "Ed25519ph"},
		{"ed25519ph-options", edS, make([]byte, 64), &ed25519.Options{Hash: crypto.SHA512}, "Ed25519ph"},
		{"ed25519ctx", edS, []byte("msg"), &ed25519.Options{Context: "ctx"}, "Ed25519ctx"},
		{"ed25519-sha256", edS, d32, crypto.SHA256, "only pure Ed25519"},
	} {
		sig, err := c.s.Sign(rand.Reader, c.digest, c.opts)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: signature %x, error %v; want an ErrInvalid mentioning %q", c.name, sig, err, c.want)
		}
	}

	aesKey, err := d.ImportKey(device.KeyAES, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.p256.PublicKey)
	pubKey, err := d.ImportKey(device.KeyPublic, der)
	if err != nil {
		t.Fatal(err)
	}
	xpriv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x, err := d.ImportPrivateKey(xpriv)
	if err != nil {
		t.Fatal(err)
	}
	other := openTest(t, "qat-gen4")
	otherKey, err := other.ImportPrivateKey(k.p256)
	if err != nil {
		t.Fatal(err)
	}
	noCopy, err := d.ImportPrivateKey(k.p256, WithoutSoftwareCopy())
	if err != nil {
		t.Fatal(err)
	}
	gone, err := d.ImportPrivateKey(k.p256)
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
		{"aes-key", q, aesKey, ErrInvalid},
		{"public-key", q, pubKey, ErrInvalid},
		{"x25519-key", q, x, ErrInvalid},
		{"other-device", q, otherKey, ErrInvalid},
		{"destroyed", q, gone, ErrInvalid},
		{"software-only-without-copy", soft, noCopy, ErrNotPermitted},
	} {
		if s, err := NewSigner(c.q, c.key); !errors.Is(err, c.want) {
			t.Errorf("%s: NewSigner = %v, %v; want %v", c.name, s, err, c.want)
		}
	}
	// A key without a software copy on a device-only queue is fine.
	if _, err := NewSigner(newQueue(t, d, WithFallback(DeviceOnly)), noCopy); err != nil {
		t.Fatal(err)
	}
}

// sgSelfSigned makes a self-signed certificate for 127.0.0.1 with signer,
// through x509.CreateCertificate, and checks it.
func sgSelfSigned(t testing.TB, signer crypto.Signer, alg x509.SignatureAlgorithm) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "accelq test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		SignatureAlgorithm:    alg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Fatalf("self-signed certificate: %v", err)
	}
	if !cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(signer.Public()) {
		t.Fatal("certificate's public key is not the signer's")
	}
	return cert
}

// TestSignerX509: self-signed certificates signed by the Signer parse and
// check, for every key type (RSA with PKCS #1 v1.5 and with PSS).
func TestSignerX509(t *testing.T) {
	k := sgKeys(t)
	for _, tg := range sgTargets() {
		t.Run(tg.name, func(t *testing.T) {
			d := tg.open(t)
			q := newQueue(t, d, WithFallback(DeviceOnly))
			for _, c := range []struct {
				name string
				priv crypto.Signer
				alg  x509.SignatureAlgorithm
				want x509.SignatureAlgorithm
			}{
				{"rsa-pkcs1v15", k.rsa, 0, x509.SHA256WithRSA},
				{"rsa-pss-sha256", k.rsa, x509.SHA256WithRSAPSS, x509.SHA256WithRSAPSS},
				{"rsa-pss-sha512", k.rsa, x509.SHA512WithRSAPSS, x509.SHA512WithRSAPSS},
				{"ecdsa-p256", k.p256, 0, x509.ECDSAWithSHA256},
				{"ecdsa-p384", k.p384, 0, x509.ECDSAWithSHA384},
				{"ed25519", k.ed, 0, x509.PureEd25519},
			} {
				t.Run(c.name, func(t *testing.T) {
					cert := sgSelfSigned(t, sgSigner(t, d, q, c.priv, WithoutSoftwareCopy()), c.alg)
					if cert.SignatureAlgorithm != c.want {
						t.Fatalf("signature algorithm %v, want %v", cert.SignatureAlgorithm, c.want)
					}
				})
			}
		})
	}
}
