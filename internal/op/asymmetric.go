package op

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// Asymmetric operations: RSA (PSS and PKCS #1 v1.5 signatures, OAEP decryption),
// ECDSA, Ed25519, X25519 and ECDH on P-256/P-384.
//
// Status mapping:
//   - a signature that does not verify, whatever its form (wrong length, bad DER,
//     out-of-range values), is StatusAuthFailed: "did not verify", as Wycheproof
//     counts malformed signatures as invalid ones;
//   - an OAEP ciphertext whose padding does not check is StatusAuthFailed: it is the
//     single "decryption error" of RFC 8017 section 7.1.2, which must not say why;
//   - a wrong digest, ciphertext or public-key length, an unsupported hash in param,
//     an invalid peer point and an all-zero X25519 result are StatusInvalid.
//
// Single fetch: an operation with a private key reads its input from shared
// memory once, into private memory, before computing. Deterministic signatures
// read their input more than once (Ed25519 hashes the message twice; RFC 6979
// derives the nonce from the digest and then signs the digest): a client that
// changed the input between two reads would get two signatures with one nonce
// and different challenges, and solve for the private key the device never
// hands out. RSA copies are cheap (at most one modulus), and keep the library's
// own single read from being load-bearing.
//
// Hashes: param is a crypto.Hash; RSA takes SHA-256, SHA-384 or SHA-512 (the same
// hash for OAEP and its MGF1). ECDSA has no param: the digest length (32, 48 or 64
// bytes) names SHA-256, SHA-384 or SHA-512, which RFC 6979 uses to derive the nonce.

func init() {
	register(ring.OpRSASignPSS, true, func(param uint16, key *device.Key, src, aux, dst []byte) Result {
		return rsaSign(param, key, src, aux, dst, true)
	})
	register(ring.OpRSASignPKCS1v15, true, func(param uint16, key *device.Key, src, aux, dst []byte) Result {
		return rsaSign(param, key, src, aux, dst, false)
	})
	register(ring.OpRSAVerifyPSS, true, func(param uint16, key *device.Key, src, aux, dst []byte) Result {
		return rsaVerify(param, key, src, aux, dst, true)
	})
	register(ring.OpRSAVerifyPKCS1v15, true, func(param uint16, key *device.Key, src, aux, dst []byte) Result {
		return rsaVerify(param, key, src, aux, dst, false)
	})
	register(ring.OpRSADecryptOAEP, true, rsaDecryptOAEP)
	register(ring.OpECDSASign, true, ecdsaSign)
	register(ring.OpECDSAVerify, true, ecdsaVerify)
	register(ring.OpEd25519Sign, true, ed25519Sign)
	register(ring.OpEd25519Verify, true, ed25519Verify)
	register(ring.OpX25519, true, x25519Run)
	register(ring.OpECDH, true, ecdhRun)
}

// rsaHash returns the hash param names, if RSA operations accept it.
func rsaHash(param uint16) (crypto.Hash, bool) {
	switch h := crypto.Hash(param); h {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
		return h, true
	}
	return 0, false
}

// PSS salts are as long as the hash (RFC 8017 section 9.1 recommends it, and it is
// what openssl's rsa_pss_saltlen:digest and Wycheproof's rsa_pss_*_mgf1_32 vectors
// use). Verification insists on that length rather than detecting it, so the
// verify operation accepts exactly what the sign operation produces.
var pssOptions = rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}

func rsaSign(param uint16, key *device.Key, src, aux, dst []byte, pss bool) Result {
	h, ok := rsaHash(param)
	if !ok || len(src) != h.Size() || len(aux) != 0 {
		return statusResult(ring.StatusInvalid)
	}
	priv, ok := key.Signer().(*rsa.PrivateKey)
	if !ok {
		return statusResult(ring.StatusNotPermitted)
	}
	if len(dst) < priv.Size() {
		return statusResult(ring.StatusNoSpace)
	}
	var digest [64]byte
	d := digest[:copy(digest[:], src)]
	var sig []byte
	var err error
	if pss {
		sig, err = rsa.SignPSS(rand.Reader, priv, h, d, &pssOptions)
	} else {
		sig, err = rsa.SignPKCS1v15(nil, priv, h, d)
	}
	if err != nil || len(sig) > len(dst) {
		// The arguments were checked: the key or the library failed.
		return statusResult(ring.StatusDeviceError)
	}
	return Result{N: copy(dst, sig)}
}

func rsaVerify(param uint16, key *device.Key, src, aux, dst []byte, pss bool) Result {
	h, ok := rsaHash(param)
	if !ok || len(src) != h.Size() || len(dst) != 0 {
		return statusResult(ring.StatusInvalid)
	}
	pub, ok := key.Public().(*rsa.PublicKey)
	if !ok {
		return statusResult(ring.StatusNotPermitted)
	}
	var err error
	if pss {
		err = rsa.VerifyPSS(pub, h, src, aux, &pssOptions)
	} else {
		err = rsa.VerifyPKCS1v15(pub, h, src, aux)
	}
	if err != nil {
		return statusResult(ring.StatusAuthFailed)
	}
	return Result{}
}

// rsaDecryptOAEP decrypts an RSAES-OAEP ciphertext, with the same hash for OAEP and
// MGF1 and aux as the label. The ciphertext must be exactly as long as the modulus
// (RFC 8017 section 7.1.2 step 1). A dst shorter than the recovered message is
// StatusNoSpace; the message is then discarded.
func rsaDecryptOAEP(param uint16, key *device.Key, src, aux, dst []byte) Result {
	h, ok := rsaHash(param)
	if !ok {
		return statusResult(ring.StatusInvalid)
	}
	priv, ok := key.Signer().(*rsa.PrivateKey)
	if !ok {
		return statusResult(ring.StatusNotPermitted)
	}
	if len(src) != priv.Size() {
		return statusResult(ring.StatusInvalid)
	}
	ct := getScratch(len(src))
	defer putScratch(ct)
	msg, err := rsa.DecryptOAEP(h.New(), nil, priv, (*ct)[:copy(*ct, src)], aux)
	if err != nil {
		if errors.Is(err, rsa.ErrDecryption) {
			return statusResult(ring.StatusAuthFailed)
		}
		return statusResult(ring.StatusDeviceError)
	}
	defer clear(msg)
	if len(msg) > len(dst) {
		return statusResult(ring.StatusNoSpace)
	}
	return Result{N: copy(dst, msg)}
}

// ecdsaHash returns the hash a digest length names, for RFC 6979.
func ecdsaHash(n int) (crypto.Hash, bool) {
	switch n {
	case 32:
		return crypto.SHA256, true
	case 48:
		return crypto.SHA384, true
	case 64:
		return crypto.SHA512, true
	}
	return 0, false
}

// ecdsaMaxSig is the longest DER signature on a curve of the given size: a
// SEQUENCE of two INTEGERs, each up to one byte longer than the order.
func ecdsaMaxSig(bitSize int) int {
	n := (bitSize+7)/8 + 1 // integer with a leading zero byte
	body := 2 * (2 + n)    // tag, short length, value; twice
	if body < 128 {
		return 2 + body
	}
	return 3 + body
}

// ecdsaSign signs a digest with RFC 6979 deterministic nonces: ecdsa.PrivateKey.Sign
// with a nil random source (Go 1.24 and later). The device and the client's
// software fallback therefore produce byte-identical signatures. dst must hold the
// longest DER signature for the curve (72 bytes for P-256, 104 for P-384).
func ecdsaSign(param uint16, key *device.Key, src, aux, dst []byte) Result {
	h, ok := ecdsaHash(len(src))
	if !ok || param != 0 || len(aux) != 0 {
		return statusResult(ring.StatusInvalid)
	}
	priv, ok := key.Signer().(*ecdsa.PrivateKey)
	if !ok {
		return statusResult(ring.StatusNotPermitted)
	}
	if len(dst) < ecdsaMaxSig(priv.Curve.Params().BitSize) {
		return statusResult(ring.StatusNoSpace)
	}
	var digest [64]byte
	sig, err := priv.Sign(nil, digest[:copy(digest[:], src)], h)
	if err != nil || len(sig) > len(dst) {
		return statusResult(ring.StatusDeviceError)
	}
	return Result{N: copy(dst, sig)}
}

func ecdsaVerify(param uint16, key *device.Key, src, aux, dst []byte) Result {
	if _, ok := ecdsaHash(len(src)); !ok || param != 0 || len(dst) != 0 {
		return statusResult(ring.StatusInvalid)
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok {
		return statusResult(ring.StatusNotPermitted)
	}
	// VerifyASN1 accepts only DER (minimal lengths, minimal non-negative
	// integers), so BER variants of a valid signature are refused.
	if !ecdsa.VerifyASN1(pub, src, aux) {
		return statusResult(ring.StatusAuthFailed)
	}
	return Result{}
}

func ed25519Sign(param uint16, key *device.Key, src, aux, dst []byte) Result {
	if param != 0 || len(aux) != 0 {
		return statusResult(ring.StatusInvalid)
	}
	priv, ok := key.Signer().(ed25519.PrivateKey)
	if !ok || len(priv) != ed25519.PrivateKeySize {
		return statusResult(ring.StatusNotPermitted)
	}
	if len(dst) < ed25519.SignatureSize {
		return statusResult(ring.StatusNoSpace)
	}
	msg := getScratch(len(src))
	defer putScratch(msg)
	m := (*msg)[:copy(*msg, src)]
	sig := ed25519.Sign(priv, m)
	clear(m)
	return Result{N: copy(dst, sig)}
}

// ed25519Verify checks a pure Ed25519 signature (RFC 8032). A signature that is not
// 64 bytes long is one that does not verify: StatusAuthFailed.
func ed25519Verify(param uint16, key *device.Key, src, aux, dst []byte) Result {
	if param != 0 || len(dst) != 0 {
		return statusResult(ring.StatusInvalid)
	}
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return statusResult(ring.StatusNotPermitted)
	}
	if len(aux) != ed25519.SignatureSize || !ed25519.Verify(pub, src, aux) {
		return statusResult(ring.StatusAuthFailed)
	}
	return Result{}
}

// x25519Run computes X25519(private key, peer public key) (RFC 7748). Every
// 32-byte string is a public key (non-canonical values and points on the twist are
// accepted, as RFC 7748 section 5 says). A result of all zeroes, from a low-order
// peer point, is refused with StatusInvalid: crypto/ecdh performs the check of RFC
// 7748 section 6.1, and a zero secret would be shared with anyone.
func x25519Run(param uint16, key *device.Key, src, aux, dst []byte) Result {
	priv := key.ECDH()
	switch {
	case param != 0, len(src) != 0, len(aux) != 32:
		return statusResult(ring.StatusInvalid)
	case priv == nil || priv.Curve() != ecdh.X25519():
		return statusResult(ring.StatusNotPermitted)
	case len(dst) < 32:
		return statusResult(ring.StatusNoSpace)
	}
	return agree(priv, aux, dst)
}

// ecdhRun computes ECDH on P-256 or P-384: the x-coordinate of d*Q (SEC 1 section
// 3.3.1), for an uncompressed peer point Q, which must be on the curve.
func ecdhRun(param uint16, key *device.Key, src, aux, dst []byte) Result {
	priv := key.ECDH()
	if priv == nil {
		return statusResult(ring.StatusNotPermitted)
	}
	var size int
	switch priv.Curve() {
	case ecdh.P256():
		size = 32
	case ecdh.P384():
		size = 48
	default:
		return statusResult(ring.StatusNotPermitted)
	}
	switch {
	case param != 0, len(src) != 0, len(aux) != 1+2*size:
		return statusResult(ring.StatusInvalid)
	case aux[0] != 4: // uncompressed SEC 1 point
		return statusResult(ring.StatusInvalid)
	case len(dst) < size:
		return statusResult(ring.StatusNoSpace)
	}
	return agree(priv, aux, dst)
}

func agree(priv *ecdh.PrivateKey, peer, dst []byte) Result {
	pub, err := priv.Curve().NewPublicKey(peer)
	if err != nil {
		return statusResult(ring.StatusInvalid)
	}
	secret, err := priv.ECDH(pub)
	if err != nil {
		return statusResult(ring.StatusInvalid)
	}
	defer clear(secret)
	if len(secret) > len(dst) {
		return statusResult(ring.StatusDeviceError)
	}
	return Result{N: copy(dst, secret)}
}
