package userdrv

// A crypto.Signer whose private key lives in the driver, built on the copy
// path (Queue.Do): each signature is one job.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"io"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// signerAlg is the algorithm family of a Signer's key.
type signerAlg uint8

const (
	signerRSA signerAlg = iota + 1
	signerECDSA
	signerEd25519
)

// deviceSigner is the crypto.Signer NewSigner returns.
type deviceSigner struct {
	q      *Queue
	key    *Key
	alg    signerAlg
	sigLen int // the destination a signature job gets
}

// NewSigner returns a crypto.Signer whose private key is key, a private key
// held by the driver (imported as device.KeyPrivate, for example with
// Device.ImportPrivateKey): RSA (2048 to 4096 bits), ECDSA P-256 or P-384, or
// Ed25519. Every Sign is a job on q, run on the device or, as q's Fallback
// says, in software. The Signer is safe for concurrent use, as Queue.Do is,
// and can be a tls.Certificate's PrivateKey or the signer given to
// x509.CreateCertificate.
//
// Public returns key.Public(). Sign(rand, digest, opts) takes what
// crypto.Signer specifies:
//   - RSA: digest is the hash of the message and opts.HashFunc() its hash,
//     SHA-256, SHA-384 or SHA-512, whose size len(digest) must be. With
//     *rsa.PSSOptions the signature is RSASSA-PSS with MGF1 of the same hash
//     and a salt as long as the hash: SaltLength must be
//     rsa.PSSSaltLengthEqualsHash (what crypto/tls and crypto/x509 ask for) or
//     the hash size, and rsa.PSSSaltLengthAuto is accepted too and given the
//     same salt (for rsa.SignPSS it means the longest salt, but any verifier
//     that detects the salt length, as Auto does when verifying, accepts a
//     hash-length one). Any other opts give PKCS #1 v1.5.
//   - ECDSA: digest is 32, 48 or 64 bytes (SHA-256, SHA-384, SHA-512 of the
//     message; a longer hash than the curve is truncated as ECDSA specifies);
//     opts.HashFunc(), unless zero, must be a hash of that size. The signature
//     is ASN.1 DER, with the nonce derived from the key and digest (RFC 6979,
//     its HMAC over SHA-256, SHA-384 or SHA-512 by the digest's length), so
//     the device and the software fallback give the same bytes, and the same
//     as ecdsa.PrivateKey.Sign with a nil rand.
//   - Ed25519: opts.HashFunc() must be zero, and digest is then the whole
//     message (pure Ed25519, RFC 8032), as for ed25519.PrivateKey.Sign.
//     Ed25519ph (a SHA-512 hash) and Ed25519ctx (*ed25519.Options with a
//     Context) are not offered: Sign returns an error.
//
// The rand argument is ignored: the device has its own randomness (for PSS
// salts) and ECDSA nonces are deterministic. Sign returns an error matching
// ErrInvalid for arguments it refuses before submitting anything, and the
// job's *JobError if the job failed.
//
// NewSigner fails if the key is not such a private key, was imported on
// another device, or can never run on q (see NewAEAD).
func NewSigner(q *Queue, key *Key) (crypto.Signer, error) {
	if q == nil {
		return nil, fmt.Errorf("userdrv: NewSigner: %w: nil queue", ErrInvalid)
	}
	if key == nil {
		return nil, fmt.Errorf("userdrv: NewSigner: %w: nil key", ErrInvalid)
	}
	if key.dev != q.dev {
		return nil, fmt.Errorf("userdrv: NewSigner: %w: the key was imported on another device", ErrInvalid)
	}
	if key.Kind() != device.KeyPrivate {
		return nil, fmt.Errorf("userdrv: NewSigner: %w: a %v key is not a private key", ErrInvalid, key.Kind())
	}
	s := &deviceSigner{q: q, key: key}
	var ops []ring.Opcode
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		s.alg, s.sigLen = signerRSA, pub.Size()
		ops = []ring.Opcode{ring.OpRSASignPSS, ring.OpRSASignPKCS1v15}
	case *ecdsa.PublicKey:
		s.alg, s.sigLen = signerECDSA, ecdsaDERMax(pub.Curve.Params().BitSize)
		ops = []ring.Opcode{ring.OpECDSASign}
	case ed25519.PublicKey:
		s.alg, s.sigLen = signerEd25519, ed25519.SignatureSize
		ops = []ring.Opcode{ring.OpEd25519Sign}
	default:
		return nil, fmt.Errorf("userdrv: NewSigner: %w: a %T key does not sign (want RSA, ECDSA or Ed25519)", ErrInvalid, pub)
	}
	if err := keyRunnable(q, key, ops...); err != nil {
		return nil, fmt.Errorf("userdrv: NewSigner: %w", err)
	}
	return s, nil
}

// ecdsaDERMax is the longest DER ECDSA signature on a curve of the given size,
// the destination the device demands: 72 bytes for P-256, 104 for P-384.
func ecdsaDERMax(bits int) int {
	n := (bits+7)/8 + 1 // an INTEGER with a leading zero byte
	body := 2 * (2 + n) // tag, length, value; twice
	if body < 128 {
		return 2 + body
	}
	return 3 + body
}

// signerError is an argument Sign refuses; it matches ErrInvalid.
func signerError(format string, args ...any) error {
	return fmt.Errorf("userdrv: Signer: %w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Public returns the public half of the key.
func (s *deviceSigner) Public() crypto.PublicKey { return s.key.Public() }

// Sign signs digest with the driver's key; see NewSigner. rand is ignored.
func (s *deviceSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	var h crypto.Hash
	if opts != nil {
		h = opts.HashFunc()
	}
	req := Request{Key: s.key, Src: digest, DstLen: s.sigLen}
	switch s.alg {
	case signerRSA:
		switch h {
		case crypto.SHA256, crypto.SHA384, crypto.SHA512:
		default:
			return nil, signerError("RSA with hash %v: want SHA-256, SHA-384 or SHA-512", h)
		}
		if len(digest) != h.Size() {
			return nil, signerError("%v digest of %d bytes, want %d", h, len(digest), h.Size())
		}
		req.Op, req.Param = ring.OpRSASignPKCS1v15, uint16(h)
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			switch pss.SaltLength {
			case rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto, h.Size():
			default:
				return nil, signerError("PSS salt length %d: the device's salt is as long as the hash (%d bytes); "+
					"use rsa.PSSSaltLengthEqualsHash", pss.SaltLength, h.Size())
			}
			req.Op = ring.OpRSASignPSS
		}
	case signerECDSA:
		switch len(digest) {
		case 32, 48, 64:
		default:
			return nil, signerError("ECDSA digest of %d bytes, want 32, 48 or 64 (SHA-256, SHA-384 or SHA-512)", len(digest))
		}
		if h != 0 && h.Size() != len(digest) {
			return nil, signerError("%d-byte digest with hash %v of %d bytes", len(digest), h, h.Size())
		}
		req.Op = ring.OpECDSASign
	case signerEd25519:
		if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
			return nil, signerError("Ed25519ctx (a context string) is not supported: only pure Ed25519")
		}
		if h == crypto.SHA512 {
			return nil, signerError("Ed25519ph (a SHA-512 pre-hash) is not supported: only pure Ed25519 (hash 0, the whole message)")
		}
		if h != 0 {
			return nil, signerError("Ed25519 with hash %v: only pure Ed25519 (hash 0, the whole message)", h)
		}
		req.Op = ring.OpEd25519Sign
	}
	res, err := s.q.Do(context.Background(), make([]byte, 0, s.sigLen), req)
	if err != nil {
		return nil, fmt.Errorf("userdrv: Signer: %w", err)
	}
	return res.Out, nil
}
