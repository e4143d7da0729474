package op_test

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
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/op"
	"github.com/accelq/accelq/ring"
)

// testKeys are the keys of the crypto tests, generated once per test binary (one
// RSA-2048 key: generation is the slow part).
type testKeys struct {
	sym              *symKeys
	rsa              *rsa.PrivateKey
	rsaPriv, rsaPub  *device.Key
	p256, p384       *ecdsa.PrivateKey
	p256Priv, p256Pu *device.Key
	p384Priv, p384Pu *device.Key
	ed               ed25519.PrivateKey
	edPriv, edPub    *device.Key
	x                *ecdh.PrivateKey
	xPriv            *device.Key
	all              []*device.Key // every key above, and nil
}

var (
	keysOnce sync.Once
	keysAll  *testKeys
)

func privKey(tb testing.TB, k any) *device.Key {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	return mustKey(tb, device.KeyPrivate, der)
}

func pubKey(tb testing.TB, k any) *device.Key {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	return mustKey(tb, device.KeyPublic, der)
}

func allKeys(tb testing.TB) *testKeys {
	sym := symmetricKeys(tb)
	keysOnce.Do(func() {
		k := &testKeys{sym: sym}
		var err error
		if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			tb.Fatal(err)
		}
		k.p256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		k.p384, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		_, k.ed, _ = ed25519.GenerateKey(rand.Reader)
		k.x, _ = ecdh.X25519().GenerateKey(rand.Reader)
		k.rsaPriv, k.rsaPub = privKey(tb, k.rsa), pubKey(tb, &k.rsa.PublicKey)
		k.p256Priv, k.p256Pu = privKey(tb, k.p256), pubKey(tb, &k.p256.PublicKey)
		k.p384Priv, k.p384Pu = privKey(tb, k.p384), pubKey(tb, &k.p384.PublicKey)
		k.edPriv, k.edPub = privKey(tb, k.ed), pubKey(tb, k.ed.Public())
		k.xPriv = privKey(tb, k.x)
		k.all = []*device.Key{nil, sym.aes128, sym.aes256, sym.chacha, sym.xts, sym.hmac,
			k.rsaPriv, k.rsaPub, k.p256Priv, k.p256Pu, k.p384Priv, k.p384Pu, k.edPriv, k.edPub, k.xPriv}
		keysAll = k
	})
	if keysAll == nil {
		tb.Fatal("test keys unavailable")
	}
	return keysAll
}

type namedJob struct {
	name string
	job  cryptoJob
}

var (
	validOnce sync.Once
	validAll  []namedJob
)

// validJobs returns a job that succeeds for every crypto opcode (several for some,
// with different keys and hashes).
func validJobs(tb testing.TB, k *testKeys) []namedJob {
	validOnce.Do(func() { validAll = makeValidJobs(tb, k) })
	return validAll
}

func makeValidJobs(tb testing.TB, k *testKeys) []namedJob {
	s := k.sym
	var js []namedJob
	add := func(name string, j cryptoJob) { js = append(js, namedJob{name, j}) }
	msg := randBytes(100)
	aux := randBytes(12 + 20)
	for _, a := range aeadKinds(tb) {
		add(a.seal.String()+"/"+a.name, cryptoJob{op: a.seal, key: a.key, src: msg, aux: aux, dstLen: 116})
		add(a.open.String()+"/"+a.name, cryptoJob{op: a.open, key: a.key, src: a.std.Seal(nil, aux[:12], msg, aux[12:]), aux: aux, dstLen: 100})
	}
	unit := randBytes(8)
	add("aes-xts-encrypt", cryptoJob{op: ring.OpAESXTSEncrypt, key: s.xts, src: randBytes(512), aux: unit, dstLen: 512})
	add("aes-xts-decrypt", cryptoJob{op: ring.OpAESXTSDecrypt, key: s.xts, src: randBytes(512), aux: unit, dstLen: 512})
	add("sha256", cryptoJob{op: ring.OpSHA256, src: msg, dstLen: 32})
	add("sha384", cryptoJob{op: ring.OpSHA384, src: msg, dstLen: 48})
	add("sha512", cryptoJob{op: ring.OpSHA512, src: msg, dstLen: 64})
	add("hmac-sha256", cryptoJob{op: ring.OpHMACSHA256, key: s.hmac, src: msg, dstLen: 32})
	add("hmac-sha512", cryptoJob{op: ring.OpHMACSHA512, key: s.hmac, src: msg, dstLen: 64})
	add("crc32c", cryptoJob{op: ring.OpCRC32C, src: msg, aux: randBytes(4)})

	d256 := sha256.Sum256(msg)
	d384 := crypto.SHA384.New()
	d384.Write(msg)
	d512 := crypto.SHA512.New()
	d512.Write(msg)
	digests := map[crypto.Hash][]byte{crypto.SHA256: d256[:], crypto.SHA384: d384.Sum(nil), crypto.SHA512: d512.Sum(nil)}
	pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
	pssSig, _ := rsa.SignPSS(rand.Reader, k.rsa, crypto.SHA256, digests[crypto.SHA256], pss)
	pkcsSig, _ := rsa.SignPKCS1v15(nil, k.rsa, crypto.SHA512, digests[crypto.SHA512])
	label := []byte("label")
	oaep, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, &k.rsa.PublicKey, msg[:50], label)
	add("rsa-sign-pss/2048-sha256", cryptoJob{op: ring.OpRSASignPSS, param: uint16(crypto.SHA256), key: k.rsaPriv, src: digests[crypto.SHA256], dstLen: 256})
	add("rsa-sign-pkcs1v15/2048-sha384", cryptoJob{op: ring.OpRSASignPKCS1v15, param: uint16(crypto.SHA384), key: k.rsaPriv, src: digests[crypto.SHA384], dstLen: 256})
	add("rsa-verify-pss/2048-sha256", cryptoJob{op: ring.OpRSAVerifyPSS, param: uint16(crypto.SHA256), key: k.rsaPub, src: digests[crypto.SHA256], aux: pssSig})
	add("rsa-verify-pkcs1v15/2048-sha512", cryptoJob{op: ring.OpRSAVerifyPKCS1v15, param: uint16(crypto.SHA512), key: k.rsaPriv, src: digests[crypto.SHA512], aux: pkcsSig})
	add("rsa-decrypt-oaep/2048-sha256", cryptoJob{op: ring.OpRSADecryptOAEP, param: uint16(crypto.SHA256), key: k.rsaPriv, src: oaep, aux: label, dstLen: 190})

	sig256, _ := ecdsa.SignASN1(rand.Reader, k.p256, digests[crypto.SHA256])
	sig384, _ := ecdsa.SignASN1(rand.Reader, k.p384, digests[crypto.SHA384])
	add("ecdsa-sign/P-256", cryptoJob{op: ring.OpECDSASign, key: k.p256Priv, src: digests[crypto.SHA256], dstLen: 72})
	add("ecdsa-sign/P-384", cryptoJob{op: ring.OpECDSASign, key: k.p384Priv, src: digests[crypto.SHA384], dstLen: 104})
	add("ecdsa-verify/P-256", cryptoJob{op: ring.OpECDSAVerify, key: k.p256Pu, src: digests[crypto.SHA256], aux: sig256})
	add("ecdsa-verify/P-384", cryptoJob{op: ring.OpECDSAVerify, key: k.p384Priv, src: digests[crypto.SHA384], aux: sig384})
	add("ed25519-sign", cryptoJob{op: ring.OpEd25519Sign, key: k.edPriv, src: msg, dstLen: 64})
	add("ed25519-verify", cryptoJob{op: ring.OpEd25519Verify, key: k.edPub, src: msg, aux: ed25519.Sign(k.ed, msg)})
	peerX, _ := ecdh.X25519().GenerateKey(rand.Reader)
	add("x25519", cryptoJob{op: ring.OpX25519, key: k.xPriv, aux: peerX.PublicKey().Bytes(), dstLen: 32})
	peer256, _ := ecdh.P256().GenerateKey(rand.Reader)
	peer384, _ := ecdh.P384().GenerateKey(rand.Reader)
	add("ecdh/P-256", cryptoJob{op: ring.OpECDH, key: k.p256Priv, aux: peer256.PublicKey().Bytes(), dstLen: 32})
	add("ecdh/P-384", cryptoJob{op: ring.OpECDH, key: k.p384Priv, aux: peer384.PublicKey().Bytes(), dstLen: 48})
	return js
}

var rsaHashes = []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}

func digestOf(h crypto.Hash, msg []byte) []byte {
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

func TestRSA(t *testing.T) {
	k := allKeys(t)
	testRSAKey(t, k.rsa, k.rsaPriv, k.rsaPub)
}

// RSA-3072 and RSA-4096: key generation takes seconds, so not under -short.
func TestRSALargeKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA-3072/4096 key generation is slow")
	}
	for _, bits := range []int{3072, 4096} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			priv, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				t.Fatal(err)
			}
			testRSAKey(t, priv, privKey(t, priv), pubKey(t, &priv.PublicKey))
		})
	}
}

func testRSAKey(t *testing.T, priv *rsa.PrivateKey, dpriv, dpub *device.Key) {
	size := priv.Size()
	msg := []byte("accelq RSA test message")
	pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
	for _, h := range rsaHashes {
		param := uint16(h)
		digest := digestOf(h, msg)
		// PSS: randomised; verify with the standard library and with the op.
		sig := cryptoWant(t, cryptoJob{op: ring.OpRSASignPSS, param: param, key: dpriv, src: digest, dstLen: size + 3}, ring.StatusOK)
		if len(sig) != size {
			t.Fatalf("PSS signature of %d bytes", len(sig))
		}
		if err := rsa.VerifyPSS(&priv.PublicKey, h, digest, sig, pss); err != nil {
			t.Fatalf("%v PSS: standard library rejects: %v", h, err)
		}
		for _, key := range []*device.Key{dpub, dpriv} {
			cryptoWant(t, cryptoJob{op: ring.OpRSAVerifyPSS, param: param, key: key, src: digest, aux: sig}, ring.StatusOK)
		}
		// Salt length is the hash length, not detected: a 20-byte salt is refused.
		short, _ := rsa.SignPSS(rand.Reader, priv, h, digest, &rsa.PSSOptions{SaltLength: 20})
		cryptoWant(t, cryptoJob{op: ring.OpRSAVerifyPSS, param: param, key: dpub, src: digest, aux: short}, ring.StatusAuthFailed)
		bad := cloneBytes(sig)
		bad[size/2] ^= 1
		cryptoWant(t, cryptoJob{op: ring.OpRSAVerifyPSS, param: param, key: dpub, src: digest, aux: bad}, ring.StatusAuthFailed)
		cryptoWant(t, cryptoJob{op: ring.OpRSAVerifyPSS, param: param, key: dpub, src: digest, aux: sig[1:]}, ring.StatusAuthFailed)
		cryptoWant(t, cryptoJob{op: ring.OpRSAVerifyPKCS1v15, param: param, key: dpub, src: digest, aux: sig}, ring.StatusAuthFailed)

		// PKCS #1 v1.5: deterministic, so byte-identical to the standard library.
		want, _ := rsa.SignPKCS1v15(nil, priv, h, digest)
		got := cryptoWant(t, cryptoJob{op: ring.OpRSASignPKCS1v15, param: param, key: dpriv, src: digest, dstLen: size}, ring.StatusOK)
		if !bytes.Equal(got, want) {
			t.Fatalf("%v PKCS #1 v1.5 signature differs from the standard library", h)
		}
		cryptoWant(t, cryptoJob{op: ring.OpRSAVerifyPKCS1v15, param: param, key: dpub, src: digest, aux: got}, ring.StatusOK)
		cryptoWant(t, cryptoJob{op: ring.OpRSAVerifyPKCS1v15, param: param, key: dpub, src: digest, aux: got[:size-1]}, ring.StatusAuthFailed)

		// OAEP with a label; the same hash for MGF1.
		label := []byte("accelq label")
		for _, n := range []int{0, 1, size - 2*h.Size() - 2} {
			pt := randBytes(n)
			ct, err := rsa.EncryptOAEP(h.New(), rand.Reader, &priv.PublicKey, pt, label)
			if err != nil {
				t.Fatal(err)
			}
			out := cryptoWant(t, cryptoJob{op: ring.OpRSADecryptOAEP, param: param, key: dpriv, src: ct, aux: label, dstLen: n}, ring.StatusOK)
			if !bytes.Equal(out, pt) {
				t.Fatalf("OAEP %v: %d-byte message decrypts wrong", h, n)
			}
			cryptoWant(t, cryptoJob{op: ring.OpRSADecryptOAEP, param: param, key: dpriv, src: ct, aux: label[1:], dstLen: size}, ring.StatusAuthFailed)
			if n > 0 {
				cryptoWant(t, cryptoJob{op: ring.OpRSADecryptOAEP, param: param, key: dpriv, src: ct, aux: label, dstLen: n - 1}, ring.StatusNoSpace)
			}
		}
		ct, _ := rsa.EncryptOAEP(h.New(), rand.Reader, &priv.PublicKey, msg, nil)
		cryptoWant(t, cryptoJob{op: ring.OpRSADecryptOAEP, param: param, key: dpriv, src: ct, dstLen: size}, ring.StatusOK)
		cryptoWant(t, cryptoJob{op: ring.OpRSADecryptOAEP, param: param, key: dpriv, src: ct[1:], dstLen: size}, ring.StatusInvalid)
		cryptoWant(t, cryptoJob{op: ring.OpRSADecryptOAEP, param: param, key: dpub, src: ct, dstLen: size}, ring.StatusNotPermitted)

		// Argument checks.
		cryptoWant(t, cryptoJob{op: ring.OpRSASignPSS, param: param, key: dpriv, src: digest, dstLen: size - 1}, ring.StatusNoSpace)
		cryptoWant(t, cryptoJob{op: ring.OpRSASignPSS, param: param, key: dpriv, src: digest[1:], dstLen: size}, ring.StatusInvalid)
		cryptoWant(t, cryptoJob{op: ring.OpRSASignPSS, param: param, key: dpriv, src: digest, aux: []byte{0}, dstLen: size}, ring.StatusInvalid)
		cryptoWant(t, cryptoJob{op: ring.OpRSASignPSS, param: param, key: dpub, src: digest, dstLen: size}, ring.StatusNotPermitted)
		cryptoWant(t, cryptoJob{op: ring.OpRSAVerifyPSS, param: param, key: dpub, src: digest, aux: sig, dstLen: 1}, ring.StatusInvalid)
	}
	for _, p := range []uint16{0, uint16(crypto.SHA1), uint16(crypto.MD5), uint16(crypto.SHA224), uint16(crypto.SHA3_256), 0xffff} {
		d := make([]byte, 32)
		cryptoWant(t, cryptoJob{op: ring.OpRSASignPKCS1v15, param: p, key: dpriv, src: d, dstLen: size}, ring.StatusInvalid)
		cryptoWant(t, cryptoJob{op: ring.OpRSAVerifyPSS, param: p, key: dpub, src: d, aux: make([]byte, size)}, ring.StatusInvalid)
		cryptoWant(t, cryptoJob{op: ring.OpRSADecryptOAEP, param: p, key: dpriv, src: make([]byte, size), dstLen: size}, ring.StatusInvalid)
	}
}

// ecdsaParse splits a DER ECDSA signature.
func ecdsaParse(sig []byte) (r, s *big.Int, ok bool) {
	r, s = new(big.Int), new(big.Int)
	in := cryptobyte.String(sig)
	var inner cryptobyte.String
	ok = in.ReadASN1(&inner, asn1.SEQUENCE) && in.Empty() &&
		inner.ReadASN1Integer(r) && inner.ReadASN1Integer(s) && inner.Empty()
	return r, s, ok
}

func TestECDSA(t *testing.T) {
	k := allKeys(t)
	for _, c := range []struct {
		name      string
		priv      *ecdsa.PrivateKey
		dpriv, pu *device.Key
		maxSig    int
	}{
		{"P-256", k.p256, k.p256Priv, k.p256Pu, 72},
		{"P-384", k.p384, k.p384Priv, k.p384Pu, 104},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, h := range rsaHashes {
				for i := range 8 {
					digest := digestOf(h, []byte(fmt.Sprintf("message %d", i)))
					sig := cryptoWant(t, cryptoJob{op: ring.OpECDSASign, key: c.dpriv, src: digest, dstLen: c.maxSig}, ring.StatusOK)
					if !ecdsa.VerifyASN1(&c.priv.PublicKey, digest, sig) {
						t.Fatalf("%v: standard library rejects the signature", h)
					}
					// RFC 6979: what the standard library's deterministic
					// signer gives (the software fallback), and again the same.
					want, err := c.priv.Sign(nil, digest, h)
					if err != nil || !bytes.Equal(sig, want) {
						t.Fatalf("%v: signature differs from crypto/ecdsa's RFC 6979 one", h)
					}
					again := cryptoWant(t, cryptoJob{op: ring.OpECDSASign, key: c.dpriv, src: digest, dstLen: c.maxSig + 10}, ring.StatusOK)
					if !bytes.Equal(again, sig) {
						t.Fatal("ECDSA signing is not deterministic")
					}
					for _, key := range []*device.Key{c.pu, c.dpriv} {
						cryptoWant(t, cryptoJob{op: ring.OpECDSAVerify, key: key, src: digest, aux: sig}, ring.StatusOK)
					}
					bad := cloneBytes(digest)
					bad[0] ^= 1
					cryptoWant(t, cryptoJob{op: ring.OpECDSAVerify, key: c.pu, src: bad, aux: sig}, ring.StatusAuthFailed)
					cryptoWant(t, cryptoJob{op: ring.OpECDSAVerify, key: c.pu, src: digest, aux: sig[:len(sig)-1]}, ring.StatusAuthFailed)
					cryptoWant(t, cryptoJob{op: ring.OpECDSAVerify, key: c.pu, src: digest, aux: append(cloneBytes(sig), 0)}, ring.StatusAuthFailed)
				}
			}
			d := make([]byte, 32)
			cryptoWant(t, cryptoJob{op: ring.OpECDSASign, key: c.dpriv, src: d, dstLen: c.maxSig - 1}, ring.StatusNoSpace)
			for _, n := range []int{0, 20, 28, 31, 33, 65} {
				cryptoWant(t, cryptoJob{op: ring.OpECDSASign, key: c.dpriv, src: make([]byte, n), dstLen: c.maxSig}, ring.StatusInvalid)
				cryptoWant(t, cryptoJob{op: ring.OpECDSAVerify, key: c.pu, src: make([]byte, n), aux: make([]byte, 8)}, ring.StatusInvalid)
			}
			cryptoWant(t, cryptoJob{op: ring.OpECDSASign, key: c.dpriv, src: d, aux: []byte{1}, dstLen: c.maxSig}, ring.StatusInvalid)
			cryptoWant(t, cryptoJob{op: ring.OpECDSASign, key: c.pu, src: d, dstLen: c.maxSig}, ring.StatusNotPermitted)
			cryptoWant(t, cryptoJob{op: ring.OpECDSAVerify, key: c.pu, src: d, aux: nil}, ring.StatusAuthFailed)
			cryptoWant(t, cryptoJob{op: ring.OpECDSAVerify, key: c.pu, src: d, aux: make([]byte, 8), dstLen: 1}, ring.StatusInvalid)
		})
	}
}

// RFC 6979 section A.2.5, P-256 with SHA-256, message "sample".
func TestECDSARFC6979(t *testing.T) {
	x, _ := hex.DecodeString("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721")
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), x)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("sample"))
	sig := cryptoWant(t, cryptoJob{op: ring.OpECDSASign, key: privKey(t, priv), src: digest[:], dstLen: 72}, ring.StatusOK)
	r, s, ok := ecdsaParse(sig)
	if !ok {
		t.Fatalf("signature %x is not DER", sig)
	}
	if fmt.Sprintf("%064X", r) != "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716" ||
		fmt.Sprintf("%064X", s) != "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8" {
		t.Fatalf("r=%X s=%X, not RFC 6979's", r, s)
	}
}

func TestEd25519(t *testing.T) {
	k := allKeys(t)
	pub := k.ed.Public().(ed25519.PublicKey)
	for _, n := range []int{0, 1, 100, 10000} {
		msg := randBytes(n)
		sig := cryptoWant(t, cryptoJob{op: ring.OpEd25519Sign, key: k.edPriv, src: msg, dstLen: 64}, ring.StatusOK)
		if !bytes.Equal(sig, ed25519.Sign(k.ed, msg)) {
			t.Fatal("signature differs from crypto/ed25519")
		}
		for _, key := range []*device.Key{k.edPub, k.edPriv} {
			cryptoWant(t, cryptoJob{op: ring.OpEd25519Verify, key: key, src: msg, aux: sig}, ring.StatusOK)
		}
		if !ed25519.Verify(pub, msg, sig) {
			t.Fatal("standard library rejects the signature")
		}
		bad := cloneBytes(sig)
		bad[63] ^= 0x40
		cryptoWant(t, cryptoJob{op: ring.OpEd25519Verify, key: k.edPub, src: msg, aux: bad}, ring.StatusAuthFailed)
		cryptoWant(t, cryptoJob{op: ring.OpEd25519Verify, key: k.edPub, src: msg, aux: sig[:63]}, ring.StatusAuthFailed)
		cryptoWant(t, cryptoJob{op: ring.OpEd25519Verify, key: k.edPub, src: msg, aux: append(cloneBytes(sig), 0)}, ring.StatusAuthFailed)
	}
	cryptoWant(t, cryptoJob{op: ring.OpEd25519Sign, key: k.edPriv, src: []byte("x"), dstLen: 63}, ring.StatusNoSpace)
	cryptoWant(t, cryptoJob{op: ring.OpEd25519Sign, key: k.edPriv, src: []byte("x"), aux: []byte("ctx"), dstLen: 64}, ring.StatusInvalid)
	cryptoWant(t, cryptoJob{op: ring.OpEd25519Sign, key: k.edPub, src: []byte("x"), dstLen: 64}, ring.StatusNotPermitted)
	cryptoWant(t, cryptoJob{op: ring.OpEd25519Verify, key: k.edPub, src: []byte("x"), aux: make([]byte, 64), dstLen: 1}, ring.StatusInvalid)
}

func TestX25519(t *testing.T) {
	k := allKeys(t)
	peer, _ := ecdh.X25519().GenerateKey(rand.Reader)
	want, _ := peer.ECDH(k.x.PublicKey())
	got := cryptoWant(t, cryptoJob{op: ring.OpX25519, key: k.xPriv, aux: peer.PublicKey().Bytes(), dstLen: 40}, ring.StatusOK)
	if !bytes.Equal(got, want) {
		t.Fatal("X25519 secret differs from the peer's")
	}
	pubBytes := peer.PublicKey().Bytes()
	cryptoWant(t, cryptoJob{op: ring.OpX25519, key: k.xPriv, aux: pubBytes, dstLen: 31}, ring.StatusNoSpace)
	cryptoWant(t, cryptoJob{op: ring.OpX25519, key: k.xPriv, aux: pubBytes[1:], dstLen: 32}, ring.StatusInvalid)
	cryptoWant(t, cryptoJob{op: ring.OpX25519, key: k.xPriv, aux: append(cloneBytes(pubBytes), 0), dstLen: 32}, ring.StatusInvalid)
	cryptoWant(t, cryptoJob{op: ring.OpX25519, key: k.xPriv, src: []byte{1}, aux: pubBytes, dstLen: 32}, ring.StatusInvalid)
	cryptoWant(t, cryptoJob{op: ring.OpX25519, key: k.xPriv, aux: pubBytes, dstLen: 32, param: 1}, ring.StatusInvalid)
	// Low-order point: the all-zero secret is refused.
	cryptoWant(t, cryptoJob{op: ring.OpX25519, key: k.xPriv, aux: make([]byte, 32), dstLen: 32}, ring.StatusInvalid)
	cryptoWant(t, cryptoJob{op: ring.OpX25519, key: k.p256Priv, aux: pubBytes, dstLen: 32}, ring.StatusNotPermitted)
}

func TestECDH(t *testing.T) {
	k := allKeys(t)
	for _, c := range []struct {
		curve ecdh.Curve
		ec    elliptic.Curve
		key   *device.Key
		priv  *ecdsa.PrivateKey
		size  int
	}{
		{ecdh.P256(), elliptic.P256(), k.p256Priv, k.p256, 32},
		{ecdh.P384(), elliptic.P384(), k.p384Priv, k.p384, 48},
	} {
		peer, _ := c.curve.GenerateKey(rand.Reader)
		mine, _ := c.priv.ECDH()
		want, _ := peer.ECDH(mine.PublicKey())
		pt := peer.PublicKey().Bytes()
		got := cryptoWant(t, cryptoJob{op: ring.OpECDH, key: c.key, aux: pt, dstLen: c.size}, ring.StatusOK)
		if !bytes.Equal(got, want) {
			t.Fatalf("%v: secret differs from the peer's", c.curve)
		}
		cryptoWant(t, cryptoJob{op: ring.OpECDH, key: c.key, aux: pt, dstLen: c.size - 1}, ring.StatusNoSpace)
		off := cloneBytes(pt)
		off[len(off)-1] ^= 1 // not on the curve
		cryptoWant(t, cryptoJob{op: ring.OpECDH, key: c.key, aux: off, dstLen: c.size}, ring.StatusInvalid)
		compressed := elliptic.MarshalCompressed(c.ec, new(big.Int).SetBytes(pt[1:1+c.size]), new(big.Int).SetBytes(pt[1+c.size:]))
		cryptoWant(t, cryptoJob{op: ring.OpECDH, key: c.key, aux: compressed, dstLen: c.size}, ring.StatusInvalid)
		inf := make([]byte, len(pt))
		inf[0] = 4
		cryptoWant(t, cryptoJob{op: ring.OpECDH, key: c.key, aux: inf, dstLen: c.size}, ring.StatusInvalid)
		cryptoWant(t, cryptoJob{op: ring.OpECDH, key: c.key, aux: nil, dstLen: c.size}, ring.StatusInvalid)
		cryptoWant(t, cryptoJob{op: ring.OpECDH, key: c.key, src: []byte{0}, aux: pt, dstLen: c.size}, ring.StatusInvalid)
		cryptoWant(t, cryptoJob{op: ring.OpECDH, key: k.xPriv, aux: pt, dstLen: c.size}, ring.StatusNotPermitted)
	}
	// A P-256 point given to a P-384 key.
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	cryptoWant(t, cryptoJob{op: ring.OpECDH, key: k.p384Priv, aux: peer.PublicKey().Bytes(), dstLen: 48}, ring.StatusInvalid)
}

// Cross-checks with openssl: signatures made by the ops verify with openssl, and
// key agreements and OAEP ciphertexts made by openssl give the same results.
func TestOpenSSL(t *testing.T) {
	openssl := needTool(t, "openssl")
	k := allKeys(t)
	dir := t.TempDir()
	pemFile := func(name, typ string, der []byte) string {
		return writeFile(t, dir, name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	pubPEM := func(name string, pub any) string {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pemFile(name, "PUBLIC KEY", der)
	}
	privPEM := func(name string, priv any) string {
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		return pemFile(name, "PRIVATE KEY", der)
	}
	msg := []byte("signed by accelq, checked by openssl\n")
	msgFile := writeFile(t, dir, "msg", msg)
	verify := func(name string, pub string, sig []byte, args ...string) {
		t.Helper()
		sigFile := writeFile(t, dir, name+".sig", sig)
		a := append([]string{"dgst"}, args...)
		runTool(t, openssl, append(a, "-verify", pub, "-signature", sigFile, msgFile)...)
		// And a corrupted signature must fail, or the check proves nothing.
		bad := cloneBytes(sig)
		bad[len(bad)/2] ^= 1
		badFile := writeFile(t, dir, name+".bad", bad)
		if out, err := exec.Command(openssl, append(a, "-verify", pub, "-signature", badFile, msgFile)...).CombinedOutput(); err == nil {
			t.Errorf("%s: openssl accepted a corrupted signature: %s", name, out)
		}
	}

	rsaPub := pubPEM("rsa.pub", &k.rsa.PublicKey)
	for _, h := range rsaHashes {
		name := map[crypto.Hash]string{crypto.SHA256: "sha256", crypto.SHA384: "sha384", crypto.SHA512: "sha512"}[h]
		digest := digestOf(h, msg)
		sig := cryptoWant(t, cryptoJob{op: ring.OpRSASignPSS, param: uint16(h), key: k.rsaPriv, src: digest, dstLen: 256}, ring.StatusOK)
		verify("rsa-pss-"+name, rsaPub, sig, "-"+name, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest")
		sig = cryptoWant(t, cryptoJob{op: ring.OpRSASignPKCS1v15, param: uint16(h), key: k.rsaPriv, src: digest, dstLen: 256}, ring.StatusOK)
		verify("rsa-pkcs1-"+name, rsaPub, sig, "-"+name)
	}
	for _, c := range []struct {
		name string
		priv *ecdsa.PrivateKey
		key  *device.Key
		h    crypto.Hash
		dgst string
	}{
		{"p256", k.p256, k.p256Priv, crypto.SHA256, "-sha256"},
		{"p384", k.p384, k.p384Priv, crypto.SHA384, "-sha384"},
		{"p384-sha512", k.p384, k.p384Priv, crypto.SHA512, "-sha512"},
	} {
		sig := cryptoWant(t, cryptoJob{op: ring.OpECDSASign, key: c.key, src: digestOf(c.h, msg), dstLen: 104}, ring.StatusOK)
		verify("ecdsa-"+c.name, pubPEM(c.name+".pub", &c.priv.PublicKey), sig, c.dgst)
	}

	// Ed25519 signs the message itself: pkeyutl -rawin.
	sig := cryptoWant(t, cryptoJob{op: ring.OpEd25519Sign, key: k.edPriv, src: msg, dstLen: 64}, ring.StatusOK)
	edPub := pubPEM("ed.pub", k.ed.Public())
	sigFile := writeFile(t, dir, "ed.sig", sig)
	runTool(t, openssl, "pkeyutl", "-verify", "-pubin", "-inkey", edPub, "-rawin", "-in", msgFile, "-sigfile", sigFile)
	sig[5] ^= 1
	badFile := writeFile(t, dir, "ed.bad", sig)
	if err := exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", edPub, "-rawin", "-in", msgFile, "-sigfile", badFile).Run(); err == nil {
		t.Error("openssl accepted a corrupted Ed25519 signature")
	}

	// Key agreement: openssl derives with the test's private key and a fresh
	// peer; the op with the same key and peer must agree.
	derive := func(name string, priv any, peer any) []byte {
		out := filepath.Join(dir, name+".secret")
		runTool(t, openssl, "pkeyutl", "-derive", "-inkey", privPEM(name+".key", priv), "-peerkey", pubPEM(name+".peer", peer), "-out", out)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	xPeer, _ := ecdh.X25519().GenerateKey(rand.Reader)
	want := derive("x25519", k.x, xPeer.PublicKey())
	if got := cryptoWant(t, cryptoJob{op: ring.OpX25519, key: k.xPriv, aux: xPeer.PublicKey().Bytes(), dstLen: 32}, ring.StatusOK); !bytes.Equal(got, want) {
		t.Error("X25519 secret differs from openssl's")
	}
	pPeer, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pPeerECDH, _ := pPeer.PublicKey.ECDH()
	want = derive("p256", k.p256, &pPeer.PublicKey)
	if got := cryptoWant(t, cryptoJob{op: ring.OpECDH, key: k.p256Priv, aux: pPeerECDH.Bytes(), dstLen: 32}, ring.StatusOK); !bytes.Equal(got, want) {
		t.Error("ECDH P-256 secret differs from openssl's")
	}

	// OAEP: openssl encrypts with SHA-256 for OAEP and MGF1 and a label.
	label := []byte("openssl label")
	ctFile := filepath.Join(dir, "oaep.ct")
	runTool(t, openssl, "pkeyutl", "-encrypt", "-pubin", "-inkey", rsaPub, "-in", msgFile, "-out", ctFile,
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256",
		"-pkeyopt", "rsa_oaep_label:"+hex.EncodeToString(label))
	ct, err := os.ReadFile(ctFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := cryptoWant(t, cryptoJob{op: ring.OpRSADecryptOAEP, param: uint16(crypto.SHA256), key: k.rsaPriv, src: ct, aux: label, dstLen: 256}, ring.StatusOK); !bytes.Equal(got, msg) {
		t.Error("OAEP plaintext differs from what openssl encrypted")
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// A client may rewrite its input while a deterministic signature is computed
// over it. If the op read the input twice (Ed25519 hashes the message twice; RFC
// 6979 reads the digest for the nonce and again for the signature), it would
// make signatures whose nonce comes from one message and whose challenge from
// the other: valid signatures, but two of them with one nonce give away the
// private key. The op reads the input once, so with one byte flipping between
// two values every signature must be exactly the deterministic signature of one
// of the two messages.
func TestSignSingleFetch(t *testing.T) {
	if raceEnabled() {
		t.Skip("rewrites the input while the op reads it, on purpose: a data race by design")
	}
	k := allKeys(t)
	iters := 300
	if testing.Short() {
		iters = 100
	}
	for _, c := range []struct {
		name   string
		sign   func(src, dst []byte) op.Result
		n, out int
		want   func(msg []byte) []byte
	}{
		{"ed25519", func(src, dst []byte) op.Result { return op.Run(ring.OpEd25519Sign, 0, k.edPriv, src, nil, dst) },
			16384, 64, func(m []byte) []byte { return ed25519.Sign(k.ed, m) }},
		{"ecdsa-p256", func(src, dst []byte) op.Result { return op.Run(ring.OpECDSASign, 0, k.p256Priv, src, nil, dst) },
			32, 72, func(m []byte) []byte { s, _ := k.p256.Sign(nil, m, crypto.SHA256); return s }},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := randBytes(c.n)
			// The last aligned word, rewritten with atomic stores so that the
			// compiler keeps every store; only its first byte changes.
			at := c.n - 4
			word := (*uint32)(unsafe.Pointer(&src[at]))
			clear(src[at:])
			a, b := cloneBytes(src), cloneBytes(src)
			b[at] = 1
			sigA, sigB := c.want(a), c.want(b)
			var stop atomic.Bool
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for v := uint32(0); !stop.Load(); v ^= 1 {
					atomic.StoreUint32(word, v)
				}
			}()
			mixed, seenA, seenB := 0, 0, 0
			for range iters {
				dst := make([]byte, c.out)
				r := c.sign(src, dst)
				if r.Status != ring.StatusOK {
					t.Fatalf("status %v", r.Status)
				}
				switch sig := dst[:r.N]; {
				case bytes.Equal(sig, sigA):
					seenA++
				case bytes.Equal(sig, sigB):
					seenB++
				default:
					mixed++
				}
			}
			stop.Store(true)
			wg.Wait()
			t.Logf("%d signatures of one message, %d of the other, %d mixed", seenA, seenB, mixed)
			if mixed > 0 {
				t.Errorf("%d of %d signatures mix the two messages: the input was read more than once", mixed, iters)
			}
		})
	}
}
