package device

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/xts"

	"github.com/accelq/accelq/ring"
)

// KeyKind says how key material is encoded on import and what it may be used for.
type KeyKind uint8

const (
	KeyAES              KeyKind = 1 // raw 16 or 32 bytes; AES-GCM
	KeyChaCha20Poly1305 KeyKind = 2 // raw 32 bytes
	KeyAESXTS           KeyKind = 3 // raw 64 bytes: two AES-256 keys that must differ
	KeyHMAC             KeyKind = 4 // raw 1 to MaxHMACKeyLen bytes
	KeyPrivate          KeyKind = 5 // PKCS #8 DER: RSA (2048-4096 bits), ECDSA P-256/P-384, Ed25519, X25519
	KeyPublic           KeyKind = 6 // PKIX DER: RSA, ECDSA P-256/P-384, Ed25519
)

// MaxHMACKeyLen bounds imported HMAC keys.
const MaxHMACKeyLen = 1024

// MaxKeyMaterial bounds any imported key material (a PKCS #8 RSA-4096 key is
// about 2.4 KB).
const MaxKeyMaterial = 8192

var kindNames = map[KeyKind]string{
	KeyAES: "aes", KeyChaCha20Poly1305: "chacha20-poly1305", KeyAESXTS: "aes-xts",
	KeyHMAC: "hmac", KeyPrivate: "private", KeyPublic: "public",
}

func (k KeyKind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("keykind(%d)", uint8(k))
}

// ErrBadKey is returned by ParseKey for material that does not parse as its kind.
var ErrBadKey = errors.New("device: bad key")

// Key is imported key material in usable form. It is held by the driver, used by
// devices, and never handed back to a client.
type Key struct {
	kind    KeyKind
	raw     []byte // copy of symmetric material, zeroed by Destroy
	aead    cipher.AEAD
	xts     *xts.Cipher
	signer  crypto.Signer
	public  crypto.PublicKey
	ecdh    *ecdh.PrivateKey
	bits    int // RSA modulus size, EC field size or symmetric key bits
	allowed [4]uint64
}

// ParseKey parses material of the given kind. The material is copied; the caller
// should zero its own copy.
func ParseKey(kind KeyKind, material []byte) (*Key, error) {
	if len(material) == 0 || len(material) > MaxKeyMaterial {
		return nil, fmt.Errorf("%w: %d bytes of %s key material", ErrBadKey, len(material), kind)
	}
	k := &Key{kind: kind}
	var err error
	switch kind {
	case KeyAES:
		if n := len(material); n != 16 && n != 32 {
			return nil, fmt.Errorf("%w: AES-GCM key of %d bytes, want 16 or 32", ErrBadKey, n)
		}
		k.raw = clone(material)
		b, _ := aes.NewCipher(k.raw)
		k.aead, _ = cipher.NewGCM(b)
		k.bits = 8 * len(material)
		k.allow(ring.OpAESGCMSeal, ring.OpAESGCMOpen)
	case KeyChaCha20Poly1305:
		if len(material) != chacha20poly1305.KeySize {
			return nil, fmt.Errorf("%w: ChaCha20-Poly1305 key of %d bytes, want 32", ErrBadKey, len(material))
		}
		k.raw = clone(material)
		k.aead, _ = chacha20poly1305.New(k.raw)
		k.bits = 256
		k.allow(ring.OpChaCha20Poly1305Seal, ring.OpChaCha20Poly1305Open)
	case KeyAESXTS:
		if len(material) != 64 {
			return nil, fmt.Errorf("%w: AES-256-XTS key of %d bytes, want 64", ErrBadKey, len(material))
		}
		if string(material[:32]) == string(material[32:]) {
			// IEEE 1619 requires the two halves to differ.
			return nil, fmt.Errorf("%w: AES-XTS key halves are equal", ErrBadKey)
		}
		k.raw = clone(material)
		if k.xts, err = xts.NewCipher(aes.NewCipher, k.raw); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		k.bits = 256
		k.allow(ring.OpAESXTSEncrypt, ring.OpAESXTSDecrypt)
	case KeyHMAC:
		if len(material) > MaxHMACKeyLen {
			return nil, fmt.Errorf("%w: HMAC key of %d bytes exceeds %d", ErrBadKey, len(material), MaxHMACKeyLen)
		}
		k.raw = clone(material)
		k.bits = 8 * len(material)
		k.allow(ring.OpHMACSHA256, ring.OpHMACSHA512)
	case KeyPrivate:
		if err := k.parsePrivate(material); err != nil {
			return nil, err
		}
	case KeyPublic:
		if err := k.parsePublic(material); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: unknown key kind %d", ErrBadKey, uint8(kind))
	}
	return k, nil
}

func (k *Key) parsePrivate(der []byte) error {
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return fmt.Errorf("%w: PKCS #8: %v", ErrBadKey, err)
	}
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		if err := checkRSABits(p.N.BitLen()); err != nil {
			return err
		}
		p.Precompute()
		k.signer, k.public, k.bits = p, &p.PublicKey, p.N.BitLen()
		k.allow(ring.OpRSASignPSS, ring.OpRSASignPKCS1v15, ring.OpRSAVerifyPSS,
			ring.OpRSAVerifyPKCS1v15, ring.OpRSADecryptOAEP)
	case *ecdsa.PrivateKey:
		if err := checkCurve(p.Curve.Params().Name); err != nil {
			return err
		}
		k.signer, k.public, k.bits = p, &p.PublicKey, p.Curve.Params().BitSize
		if k.ecdh, err = p.ECDH(); err != nil {
			return fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		k.allow(ring.OpECDSASign, ring.OpECDSAVerify, ring.OpECDH)
	case ed25519.PrivateKey:
		k.signer, k.public, k.bits = p, p.Public(), 256
		k.allow(ring.OpEd25519Sign, ring.OpEd25519Verify)
	case *ecdh.PrivateKey:
		if p.Curve() != ecdh.X25519() {
			return fmt.Errorf("%w: ECDH private key on an unsupported curve", ErrBadKey)
		}
		k.ecdh, k.public, k.bits = p, p.PublicKey(), 256
		k.allow(ring.OpX25519)
	default:
		return fmt.Errorf("%w: unsupported private key type %T", ErrBadKey, priv)
	}
	return nil
}

func (k *Key) parsePublic(der []byte) error {
	// The parsed key may alias its input (Ed25519 does): parse a private copy,
	// since the caller's bytes may be a receive buffer about to be reused.
	pub, err := x509.ParsePKIXPublicKey(clone(der))
	if err != nil {
		return fmt.Errorf("%w: PKIX: %v", ErrBadKey, err)
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if err := checkRSABits(p.N.BitLen()); err != nil {
			return err
		}
		k.public, k.bits = p, p.N.BitLen()
		k.allow(ring.OpRSAVerifyPSS, ring.OpRSAVerifyPKCS1v15)
	case *ecdsa.PublicKey:
		if err := checkCurve(p.Curve.Params().Name); err != nil {
			return err
		}
		k.public, k.bits = p, p.Curve.Params().BitSize
		k.allow(ring.OpECDSAVerify)
	case ed25519.PublicKey:
		k.public, k.bits = p, 256
		k.allow(ring.OpEd25519Verify)
	default:
		return fmt.Errorf("%w: unsupported public key type %T", ErrBadKey, pub)
	}
	return nil
}

func checkRSABits(n int) error {
	if n < 2048 || n > 4096 {
		return fmt.Errorf("%w: RSA modulus of %d bits, want 2048 to 4096", ErrBadKey, n)
	}
	return nil
}

func checkCurve(name string) error {
	if name != "P-256" && name != "P-384" {
		return fmt.Errorf("%w: curve %s, want P-256 or P-384", ErrBadKey, name)
	}
	return nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func (k *Key) allow(ops ...ring.Opcode) {
	for _, o := range ops {
		k.allowed[o/64] |= 1 << (o % 64)
	}
}

// Kind returns the kind the key was imported as.
func (k *Key) Kind() KeyKind { return k.kind }

// Bits returns the key size in bits: RSA modulus, curve size or symmetric key size.
func (k *Key) Bits() int { return k.bits }

// Allows reports whether the key may be used for op.
func (k *Key) Allows(op ring.Opcode) bool { return k.allowed[op/64]&(1<<(op%64)) != 0 }

// AEAD returns the keyed AEAD of an AES-GCM or ChaCha20-Poly1305 key. It is safe
// for concurrent use.
func (k *Key) AEAD() cipher.AEAD { return k.aead }

// XTS returns the keyed AES-XTS cipher.
func (k *Key) XTS() *xts.Cipher { return k.xts }

// Secret returns the raw material of an HMAC key. Only devices may call it.
func (k *Key) Secret() []byte { return k.raw }

// Signer returns the private key of an RSA, ECDSA or Ed25519 private key.
func (k *Key) Signer() crypto.Signer { return k.signer }

// Public returns the public key of an asymmetric key.
func (k *Key) Public() crypto.PublicKey { return k.public }

// ECDH returns the key-agreement private key of an X25519 or NIST-curve private key.
func (k *Key) ECDH() *ecdh.PrivateKey { return k.ecdh }

// Destroy zeroes the key's raw material and drops every reference to its parsed
// forms. Go's crypto objects keep their own expanded copies (AES key schedules, RSA
// CRT values) out of reach; dropping the references lets the collector free them.
func (k *Key) Destroy() {
	clear(k.raw)
	switch p := k.signer.(type) {
	case *rsa.PrivateKey:
		clear(p.D.Bits())
		for _, q := range p.Primes {
			clear(q.Bits())
		}
	case *ecdsa.PrivateKey:
		if p.D != nil {
			clear(p.D.Bits())
		}
	case ed25519.PrivateKey:
		clear(p)
	}
	*k = Key{kind: k.kind}
}
