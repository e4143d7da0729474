package bench

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
	"errors"
	"fmt"
	"math/bits"
	mrand "math/rand/v2"
	"sync"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/bytesize"
	"github.com/accelq/accelq/internal/op"
	"github.com/accelq/accelq/ring"
	"github.com/accelq/accelq/sim"
)

// A Workload is one kind of job: an operation and the size that sets its
// cost, the payload bytes of a symmetric or compression job or the key bits of
// an asymmetric one.
type Workload struct {
	Op   ring.Opcode
	Size int // payload bytes (symmetric, compression) or key bits (asymmetric); 0 for nop
}

// Class is the engine class the workload runs on.
func (w Workload) Class() ring.Class { c, _ := w.Op.Class(); return c }

// String names the workload as the report does: "aes-gcm-seal/4KiB",
// "rsa-sign-pkcs1v15/2048bit", "nop".
func (w Workload) String() string {
	switch w.Class() {
	case ring.ClassNone:
		return w.Op.String()
	case ring.ClassAsymmetric:
		return fmt.Sprintf("%v/%dbit", w.Op, w.Size)
	}
	return fmt.Sprintf("%v/%s", w.Op, bytesize.Name(w.Size))
}

// shape is a workload made concrete: the buffers, key and parameter of a job
// the device accepts and computes correctly, and what a correct result is.
type shape struct {
	w        Workload
	param    uint16
	keyKind  device.KeyKind
	key      []byte      // material for ImportKey
	swKey    *device.Key // the same key for the software path
	keyBits  int         // as the model sees it
	src, aux []byte      // inputs, shared read-only by every job
	dstLen   int
	want     []byte // the expected output of a deterministic operation
	wantSum  uint64 // the expected CQE auxiliary result (CRC32C)
	verify   func(dst []byte, n int, sum uint64) error
	payload  int // bytes the report counts per job (GB/s)
}

// model is the job as the timing model sees it.
func (s *shape) model() sim.Job {
	return sim.Job{Op: s.w.Op, KeyBits: s.keyBits, Bytes: len(s.src)}
}

// run computes the shape's job in software into dst: the cpu mode.
func (s *shape) run(dst []byte) op.Result {
	return op.Run(s.w.Op, s.param, s.swKey, s.src, s.aux, dst)
}

// check verifies one completed job's output.
func (s *shape) check(dst []byte, n int, sum uint64) error {
	if n < 0 || n > len(dst) {
		return fmt.Errorf("%v: %d bytes reported written to a %d-byte destination", s.w, n, len(dst))
	}
	if s.verify != nil {
		return s.verify(dst, n, sum)
	}
	if n != len(s.want) || !bytes.Equal(dst[:n], s.want) {
		return fmt.Errorf("%v: output differs from software (%d bytes, want %d)", s.w, n, len(s.want))
	}
	if sum != s.wantSum {
		return fmt.Errorf("%v: auxiliary result %#x, want %#x", s.w, sum, s.wantSum)
	}
	return nil
}

// ErrNoShape is returned for a workload the harness cannot build a job for:
// an operation with no such size (Ed25519 at 384 bits, XTS below 16 bytes).
var ErrNoShape = errors.New("bench: no job of that size")

// newShape builds the job for w with valid inputs: real text for compression,
// ciphertexts, signatures and peer keys made in software, so that a
// computing device succeeds and its output can be checked.
func newShape(w Workload) (*shape, error) {
	s := &shape{w: w, payload: w.Size}
	class := w.Class()
	if class != ring.ClassAsymmetric && class != ring.ClassNone && w.Size < 1 {
		return nil, fmt.Errorf("%w: %v of %d bytes", ErrNoShape, w.Op, w.Size)
	}
	text := corpus(w.Size)
	o := w.Op
	switch o {
	case ring.OpNop:
		s.payload = 0
	case ring.OpAESGCMSeal, ring.OpAESGCMOpen, ring.OpChaCha20Poly1305Seal, ring.OpChaCha20Poly1305Open:
		s.keyKind, s.key = device.KeyAES, seq(32, 1)
		seal := ring.OpAESGCMSeal
		if o == ring.OpChaCha20Poly1305Seal || o == ring.OpChaCha20Poly1305Open {
			s.keyKind, seal = device.KeyChaCha20Poly1305, ring.OpChaCha20Poly1305Seal
		}
		s.aux = seq(12, 7) // nonce, no additional data
		s.src = text
		if o != seal {
			ct, err := soft(seal, 0, s.keyKind, s.key, text, s.aux, len(text)+16)
			if err != nil {
				return nil, err
			}
			s.src = ct
		}
	case ring.OpAESXTSEncrypt, ring.OpAESXTSDecrypt:
		if w.Size < 16 || w.Size%16 != 0 {
			return nil, fmt.Errorf("%w: %v needs a multiple of 16 bytes, not %d", ErrNoShape, o, w.Size)
		}
		s.keyKind, s.key = device.KeyAESXTS, seq(64, 3)
		s.aux = make([]byte, 8) // sector 0
		s.src = text
		if o == ring.OpAESXTSDecrypt {
			ct, err := soft(ring.OpAESXTSEncrypt, 0, s.keyKind, s.key, text, s.aux, len(text))
			if err != nil {
				return nil, err
			}
			s.src = ct
		}
	case ring.OpSHA256, ring.OpSHA384, ring.OpSHA512, ring.OpCRC32C:
		s.src = text
	case ring.OpHMACSHA256, ring.OpHMACSHA512:
		s.keyKind, s.key, s.src = device.KeyHMAC, seq(32, 5), text
	case ring.OpDeflateCompress, ring.OpZlibCompress, ring.OpGzipCompress, ring.OpZstdCompress:
		s.src = text
		inverse := decompressorOf(o)
		// The CQE carries the input's checksum, which streams rely on.
		ref := make([]byte, compressBound(len(text)))
		wantSum := op.Run(o, 0, nil, text, nil, ref).Aux
		s.verify = func(dst []byte, n int, sum uint64) error {
			back := make([]byte, len(text))
			r := op.Run(inverse, 0, nil, dst[:n], nil, back)
			if r.Status != ring.StatusOK || !bytes.Equal(back[:r.N], text) {
				return fmt.Errorf("%v: output does not decompress to the input (%v)", w, r.Status)
			}
			if sum != wantSum {
				return fmt.Errorf("%v: input checksum %#x, want %#x", w, sum, wantSum)
			}
			return nil
		}
	case ring.OpDeflateDecompress, ring.OpZlibDecompress, ring.OpGzipDecompress, ring.OpZstdDecompress:
		packed, err := soft(compressorOf(o), 0, 0, nil, text, nil, compressBound(len(text)))
		if err != nil {
			return nil, err
		}
		s.src = packed
	case ring.OpRSASignPSS, ring.OpRSASignPKCS1v15, ring.OpRSAVerifyPSS, ring.OpRSAVerifyPKCS1v15, ring.OpRSADecryptOAEP,
		ring.OpECDSASign, ring.OpECDSAVerify, ring.OpEd25519Sign, ring.OpEd25519Verify, ring.OpX25519, ring.OpECDH:
		if err := s.asymmetric(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: no job shape for %v", ErrNoShape, o)
	}
	if s.key != nil {
		k, err := device.ParseKey(s.keyKind, s.key)
		if err != nil {
			return nil, fmt.Errorf("%v: key: %w", w, err)
		}
		s.swKey = k
		if s.keyBits == 0 && class == ring.ClassAsymmetric {
			s.keyBits = k.Bits()
		}
	}
	if s.dstLen == 0 {
		s.dstLen = dstLen(o, len(s.src), w.Size)
	}
	if o == ring.OpNop || s.verify != nil {
		return s, nil
	}
	// Deterministic: the software result is the answer every job must match.
	dst := make([]byte, s.dstLen)
	r := s.run(dst)
	if r.Status != ring.StatusOK {
		return nil, fmt.Errorf("%v: software reference failed: %v", w, r.Status)
	}
	s.want, s.wantSum = dst[:r.N], r.Aux
	return s, nil
}

// asymmetric fills an asymmetric shape: a key of w.Size bits and valid inputs.
func (s *shape) asymmetric() error {
	o := s.w.Op
	alg := map[ring.Opcode]string{
		ring.OpRSASignPSS: "rsa", ring.OpRSASignPKCS1v15: "rsa", ring.OpRSAVerifyPSS: "rsa",
		ring.OpRSAVerifyPKCS1v15: "rsa", ring.OpRSADecryptOAEP: "rsa",
		ring.OpECDSASign: "ec", ring.OpECDSAVerify: "ec", ring.OpECDH: "ec",
		ring.OpEd25519Sign: "ed25519", ring.OpEd25519Verify: "ed25519", ring.OpX25519: "x25519",
	}[o]
	der, priv, err := privateKey(alg, s.w.Size)
	if err != nil {
		return err
	}
	s.keyKind, s.key = device.KeyPrivate, der
	k, err := device.ParseKey(device.KeyPrivate, der)
	if err != nil {
		return fmt.Errorf("%v: key: %w", s.w, err)
	}
	if !k.Allows(o) {
		return fmt.Errorf("%w: a %d-bit %s key does not allow %v", ErrNoShape, s.w.Size, alg, o)
	}
	s.keyBits = k.Bits()
	s.payload = 0 // the size is the key's bits: no bytes to count in GB/s
	size := (s.keyBits + 7) / 8
	digest := sha256.Sum256([]byte("accelq bench"))
	const sha256ID = uint16(crypto.SHA256)
	switch o {
	case ring.OpRSASignPSS, ring.OpRSASignPKCS1v15:
		s.param, s.src, s.dstLen = sha256ID, digest[:], size
		if o == ring.OpRSASignPSS { // randomised: check the signature, not the bytes
			verify := ring.OpRSAVerifyPSS
			s.verify = func(dst []byte, n int, _ uint64) error {
				return softVerify(verify, sha256ID, k, digest[:], dst[:n])
			}
		}
	case ring.OpRSAVerifyPSS, ring.OpRSAVerifyPKCS1v15:
		sign := ring.OpRSASignPSS
		if o == ring.OpRSAVerifyPKCS1v15 {
			sign = ring.OpRSASignPKCS1v15
		}
		sig, err := soft(sign, sha256ID, device.KeyPrivate, der, digest[:], nil, size)
		if err != nil {
			return err
		}
		s.param, s.src, s.aux = sha256ID, digest[:], sig
	case ring.OpRSADecryptOAEP:
		pub := priv.(*rsa.PrivateKey).Public().(*rsa.PublicKey)
		ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, digest[:], nil)
		if err != nil {
			return err
		}
		s.param, s.src, s.dstLen = sha256ID, ct, size
	case ring.OpECDSASign:
		s.src, s.dstLen = digest[:min(size, len(digest))], ecdsaSigMax(size)
		s.verify = func(dst []byte, n int, _ uint64) error {
			return softVerify(ring.OpECDSAVerify, 0, k, s.src, dst[:n])
		}
	case ring.OpECDSAVerify:
		s.src = digest[:min(size, len(digest))]
		sig, err := soft(ring.OpECDSASign, 0, device.KeyPrivate, der, s.src, nil, ecdsaSigMax(size))
		if err != nil {
			return err
		}
		s.aux = sig
	case ring.OpEd25519Sign:
		s.src, s.dstLen = digest[:], ed25519.SignatureSize
	case ring.OpEd25519Verify:
		sig, err := soft(ring.OpEd25519Sign, 0, device.KeyPrivate, der, digest[:], nil, ed25519.SignatureSize)
		if err != nil {
			return err
		}
		s.src, s.aux = digest[:], sig
	case ring.OpX25519:
		peer, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		s.aux, s.dstLen = peer.PublicKey().Bytes(), 32
	case ring.OpECDH:
		curve := ecdh.P256()
		if s.keyBits == 384 {
			curve = ecdh.P384()
		}
		peer, err := curve.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		s.aux, s.dstLen = peer.PublicKey().Bytes(), size
	}
	return nil
}

// soft runs an operation in software to make an input, failing unless it succeeds.
func soft(o ring.Opcode, param uint16, kind device.KeyKind, key, src, aux []byte, dstLen int) ([]byte, error) {
	var k *device.Key
	if key != nil {
		var err error
		if k, err = device.ParseKey(kind, key); err != nil {
			return nil, err
		}
	}
	dst := make([]byte, dstLen)
	r := op.Run(o, param, k, src, aux, dst)
	if r.Status != ring.StatusOK {
		return nil, fmt.Errorf("bench: preparing %v input: %v", o, r.Status)
	}
	return dst[:r.N], nil
}

// softVerify checks a signature in software.
func softVerify(o ring.Opcode, param uint16, k *device.Key, digest, sig []byte) error {
	if r := op.Run(o, param, k, digest, sig, nil); r.Status != ring.StatusOK {
		return fmt.Errorf("%v: signature does not verify (%v)", o, r.Status)
	}
	return nil
}

// dstLen is the destination a job needs.
func dstLen(o ring.Opcode, src, size int) int {
	switch o {
	case ring.OpAESGCMSeal, ring.OpChaCha20Poly1305Seal:
		return src + 16
	case ring.OpAESGCMOpen, ring.OpChaCha20Poly1305Open:
		return src - 16
	case ring.OpAESXTSEncrypt, ring.OpAESXTSDecrypt:
		return src
	case ring.OpSHA256, ring.OpHMACSHA256:
		return 32
	case ring.OpSHA384:
		return 48
	case ring.OpSHA512, ring.OpHMACSHA512:
		return 64
	case ring.OpDeflateCompress, ring.OpZlibCompress, ring.OpGzipCompress, ring.OpZstdCompress:
		return compressBound(src)
	case ring.OpDeflateDecompress, ring.OpZlibDecompress, ring.OpGzipDecompress, ring.OpZstdDecompress:
		return size
	}
	return 0 // nop, CRC32C (the result is in the CQE), verifications
}

// compressBound is room for incompressible input and any format's framing.
func compressBound(n int) int { return n + n/2 + 256 }

func decompressorOf(o ring.Opcode) ring.Opcode {
	return map[ring.Opcode]ring.Opcode{
		ring.OpDeflateCompress: ring.OpDeflateDecompress, ring.OpZlibCompress: ring.OpZlibDecompress,
		ring.OpGzipCompress: ring.OpGzipDecompress, ring.OpZstdCompress: ring.OpZstdDecompress,
	}[o]
}

func compressorOf(o ring.Opcode) ring.Opcode {
	return map[ring.Opcode]ring.Opcode{
		ring.OpDeflateDecompress: ring.OpDeflateCompress, ring.OpZlibDecompress: ring.OpZlibCompress,
		ring.OpGzipDecompress: ring.OpGzipCompress, ring.OpZstdDecompress: ring.OpZstdCompress,
	}[o]
}

// ecdsaSigMax is the longest DER signature on a curve of size-byte elements.
func ecdsaSigMax(size int) int {
	body := 2 * (2 + size + 1)
	if body < 128 {
		return 2 + body
	}
	return 3 + body
}

// seq is n bytes counting up from start: fixed key material and nonces, so that
// runs are comparable; the values are no secret of anybody's.
func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// corpus returns n bytes of English-like text from a fixed seed: compressible
// about as real text is, so that compression runs at a realistic speed and
// ratio, and the same in every run.
func corpus(n int) []byte {
	words := [...]string{"the", "device", "ring", "queue", "of", "and", "a", "to", "completion",
		"submission", "in", "job", "is", "that", "engine", "key", "for", "with", "buffer", "on",
		"accelerator", "offload", "latency", "throughput", "as", "by", "memory", "client",
		"driver", "compress", "signature", "cipher", "block", "stream", "it", "at", "this", "from"}
	r := mrand.New(mrand.NewPCG(1, uint64(bits.Len(uint(n)))))
	var b bytes.Buffer
	b.Grow(n + 16)
	for b.Len() < n {
		// Zipf-like: the first words far more often than the last.
		i := int(float64(len(words)) * r.Float64() * r.Float64())
		b.WriteString(words[i])
		if r.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// keys caches generated private keys (PKCS #8 DER) for the process: an
// RSA-4096 key takes the better part of a second to generate.
var keys = struct {
	sync.Mutex
	m map[string]cachedKey
}{m: map[string]cachedKey{}}

type cachedKey struct {
	der  []byte
	priv any
}

// privateKey returns a private key of the algorithm and size.
func privateKey(alg string, bits int) ([]byte, any, error) {
	keys.Lock()
	defer keys.Unlock()
	id := fmt.Sprintf("%s-%d", alg, bits)
	if k, ok := keys.m[id]; ok {
		return k.der, k.priv, nil
	}
	var priv any
	var err error
	switch {
	case alg == "rsa" && bits >= 2048 && bits <= 4096 && bits%8 == 0:
		priv, err = rsa.GenerateKey(rand.Reader, bits)
	case alg == "ec" && bits == 256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case alg == "ec" && bits == 384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case alg == "ed25519" && bits == 256:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case alg == "x25519" && bits == 256:
		priv, err = ecdh.X25519().GenerateKey(rand.Reader)
	default:
		return nil, nil, fmt.Errorf("%w: no %d-bit %s key", ErrNoShape, bits, alg)
	}
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	keys.m[id] = cachedKey{der, priv}
	return der, priv, nil
}
