package op

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"math/bits"
	"runtime"
	"sync"
	"weak"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// Symmetric operations: AEAD seal and open, AES-XTS, SHA-2, HMAC and CRC32C.
//
// Buffer rules (docs/uapi.md): an argument the operation does not take ("–" in the
// table) must be empty, and param must be zero; anything else is StatusInvalid. A
// destination shorter than the output is StatusNoSpace. Both are decided before any
// computation, so a refused job writes nothing.

const (
	aeadNonceSize = 12 // AES-GCM and ChaCha20-Poly1305 (RFC 8439) nonces
	aeadTagSize   = 16
	xtsBlock      = 16
	xtsAuxSize    = 8 // little-endian data unit number
	crcSeedSize   = 4
)

func init() {
	register(ring.OpAESGCMSeal, true, aeadSeal)
	register(ring.OpAESGCMOpen, true, aeadOpen)
	register(ring.OpChaCha20Poly1305Seal, true, aeadSeal)
	register(ring.OpChaCha20Poly1305Open, true, aeadOpen)
	register(ring.OpAESXTSEncrypt, true, func(param uint16, key *device.Key, src, aux, dst []byte) Result {
		return xtsRun(param, key, src, aux, dst, true)
	})
	register(ring.OpAESXTSDecrypt, true, func(param uint16, key *device.Key, src, aux, dst []byte) Result {
		return xtsRun(param, key, src, aux, dst, false)
	})
	register(ring.OpSHA256, false, digestOp(sha256.Size, func(src, dst []byte) {
		s := sha256.Sum256(src)
		copy(dst, s[:])
	}))
	register(ring.OpSHA384, false, digestOp(sha512.Size384, func(src, dst []byte) {
		s := sha512.Sum384(src)
		copy(dst, s[:])
	}))
	register(ring.OpSHA512, false, digestOp(sha512.Size, func(src, dst []byte) {
		s := sha512.Sum512(src)
		copy(dst, s[:])
	}))
	register(ring.OpHMACSHA256, true, func(param uint16, key *device.Key, src, aux, dst []byte) Result {
		return hmacRun(param, key, src, aux, dst, hmacSHA256)
	})
	register(ring.OpHMACSHA512, true, func(param uint16, key *device.Key, src, aux, dst []byte) Result {
		return hmacRun(param, key, src, aux, dst, hmacSHA512)
	})
	register(ring.OpCRC32C, false, crc32cRun)
}

func statusResult(s ring.Status) Result { return Result{Status: s} }

// aeadArgs checks what seal and open have in common and splits aux into nonce and
// additional data.
func aeadArgs(param uint16, key *device.Key, aux []byte) (a cipher.AEAD, nonce, ad []byte, st ring.Status) {
	a = key.AEAD()
	switch {
	case param != 0, len(aux) < aeadNonceSize:
		return nil, nil, nil, ring.StatusInvalid
	case a == nil:
		return nil, nil, nil, ring.StatusNotPermitted
	case a.NonceSize() != aeadNonceSize || a.Overhead() != aeadTagSize:
		// Not a key this package knows (both AEADs we import have these sizes).
		return nil, nil, nil, ring.StatusNotPermitted
	}
	return a, aux[:aeadNonceSize], aux[aeadNonceSize:], ring.StatusOK
}

// aeadSeal writes ciphertext||tag to dst. dst may be exactly src (in place).
func aeadSeal(param uint16, key *device.Key, src, aux, dst []byte) Result {
	a, nonce, ad, st := aeadArgs(param, key, aux)
	if st != ring.StatusOK {
		return statusResult(st)
	}
	n := len(src) + aeadTagSize
	if len(dst) < n {
		return statusResult(ring.StatusNoSpace)
	}
	// Seal appends to its first argument: dst[:0] has room for n bytes, so it
	// writes within dst and never reallocates. Cut the capacity to n as well, so
	// that even a library that used spare capacity could not go past the output.
	out := a.Seal(dst[:0:n], nonce, src, ad)
	return Result{N: len(out)}
}

// aeadOpen verifies ciphertext||tag in src and writes the plaintext to dst only if
// the tag verifies. Go's Open decrypts into its output before it compares the tag
// (and zeroes the output on failure); in shared memory that would show a forger
// the plaintext of a forged message for a moment, so it opens into private scratch
// memory and copies out on success. dst may be exactly src (in place).
func aeadOpen(param uint16, key *device.Key, src, aux, dst []byte) Result {
	a, nonce, ad, st := aeadArgs(param, key, aux)
	if st != ring.StatusOK {
		return statusResult(st)
	}
	if len(src) < aeadTagSize {
		return statusResult(ring.StatusInvalid)
	}
	n := len(src) - aeadTagSize
	if len(dst) < n {
		return statusResult(ring.StatusNoSpace)
	}
	buf := getScratch(n)
	defer putScratch(buf)
	pt, err := a.Open((*buf)[:0:n], nonce, src, ad)
	if err != nil {
		return statusResult(ring.StatusAuthFailed)
	}
	copy(dst, pt)
	clear(pt) // plaintext does not linger in the pool
	return Result{N: len(pt)}
}

// Scratch buffers, private to the device: AEAD open decrypts into one, signing
// operations copy their input into one (see asymmetric.go). Power-of-two size
// classes from 512 bytes to 1 MiB are pooled. A larger job gets a buffer of its
// own, as large as its source buffer: the size is that of memory the client
// registered (and, in copy mode, that the device copies anyway), never a length
// read from the data.
const (
	scratchMinShift = 9
	scratchMaxShift = 20
)

var scratchPools [scratchMaxShift - scratchMinShift + 1]sync.Pool

func scratchClass(n int) int {
	if n <= 1<<scratchMinShift {
		return 0
	}
	return bits.Len(uint(n-1)) - scratchMinShift
}

func getScratch(n int) *[]byte {
	c := scratchClass(n)
	if c >= len(scratchPools) {
		b := make([]byte, n)
		return &b
	}
	if p, ok := scratchPools[c].Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 1<<(c+scratchMinShift))
	return &b
}

func putScratch(p *[]byte) {
	c := scratchClass(cap(*p))
	if c < len(scratchPools) && cap(*p) == 1<<(c+scratchMinShift) {
		scratchPools[c].Put(p)
	}
}

// xtsRun encrypts or decrypts one data unit. dst may be exactly src (in place).
func xtsRun(param uint16, key *device.Key, src, aux, dst []byte, encrypt bool) Result {
	c := key.XTS()
	switch {
	case param != 0, len(aux) != xtsAuxSize:
		return statusResult(ring.StatusInvalid)
	case len(src) == 0 || len(src)%xtsBlock != 0:
		// x/crypto/xts has no ciphertext stealing: whole blocks only.
		return statusResult(ring.StatusInvalid)
	case c == nil:
		return statusResult(ring.StatusNotPermitted)
	case len(dst) < len(src):
		return statusResult(ring.StatusNoSpace)
	}
	unit := binary.LittleEndian.Uint64(aux)
	out := dst[:len(src)]
	if encrypt {
		c.Encrypt(out, src, unit)
	} else {
		c.Decrypt(out, src, unit)
	}
	return Result{N: len(src)}
}

// digestOp returns the implementation of an unkeyed hash with a size-byte output.
func digestOp(size int, sum func(src, dst []byte)) func(uint16, *device.Key, []byte, []byte, []byte) Result {
	return func(param uint16, _ *device.Key, src, aux, dst []byte) Result {
		switch {
		case param != 0, len(aux) != 0:
			return statusResult(ring.StatusInvalid)
		case len(dst) < size:
			return statusResult(ring.StatusNoSpace)
		}
		sum(src, dst[:size])
		return Result{N: size}
	}
}

// HMAC keyed state. hmac.New hashes the key into the inner and outer pads each time
// (about 1 µs for a 64-byte message on the development machine, against 0.3 µs
// with Reset), so keyed states are pooled per key. The cache holds each key only
// weakly: when the driver drops a key, a cleanup removes its pools; the pooled
// states never point back at the key. After Key.Destroy, Run refuses the key, so
// the pooled states are never used again and sync.Pool drops them within two
// garbage collections, as the collector frees Go's other expanded key copies.
type hmacHash uint8

const (
	hmacSHA256 hmacHash = iota
	hmacSHA512
	numHMACHashes
)

var hmacHashes = [numHMACHashes]struct {
	new  func() hash.Hash
	size int
}{
	hmacSHA256: {sha256.New, sha256.Size},
	hmacSHA512: {sha512.New, sha512.Size},
}

type hmacStates struct {
	pools [numHMACHashes]sync.Pool // of hash.Hash, keyed, Reset before reuse
}

var hmacCache sync.Map // weak.Pointer[device.Key] -> *hmacStates

func hmacStatesFor(key *device.Key) *hmacStates {
	wp := weak.Make(key)
	if v, ok := hmacCache.Load(wp); ok {
		return v.(*hmacStates)
	}
	v, loaded := hmacCache.LoadOrStore(wp, new(hmacStates))
	if !loaded {
		runtime.AddCleanup(key, func(wp weak.Pointer[device.Key]) { hmacCache.Delete(wp) }, wp)
	}
	return v.(*hmacStates)
}

func hmacRun(param uint16, key *device.Key, src, aux, dst []byte, hh hmacHash) Result {
	size := hmacHashes[hh].size
	secret := key.Secret()
	switch {
	case param != 0, len(aux) != 0:
		return statusResult(ring.StatusInvalid)
	case len(secret) == 0:
		return statusResult(ring.StatusNotPermitted)
	case len(dst) < size:
		return statusResult(ring.StatusNoSpace)
	}
	pool := &hmacStatesFor(key).pools[hh]
	h, ok := pool.Get().(hash.Hash)
	if ok {
		h.Reset()
	} else {
		h = hmac.New(hmacHashes[hh].new, secret)
	}
	h.Write(src)
	h.Sum(dst[:0:size])
	pool.Put(h)
	return Result{N: size}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32cRun computes the CRC32C of src into the result's Aux, continuing from the
// optional seed in aux (the CRC of the preceding data, for chaining).
func crc32cRun(param uint16, _ *device.Key, src, aux, dst []byte) Result {
	var seed uint32
	switch {
	case param != 0, len(dst) != 0:
		return statusResult(ring.StatusInvalid)
	case len(aux) == crcSeedSize:
		seed = binary.LittleEndian.Uint32(aux)
	case len(aux) != 0:
		return statusResult(ring.StatusInvalid)
	}
	return Result{Aux: uint64(crc32.Update(seed, castagnoli, src))}
}
