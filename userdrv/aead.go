package userdrv

// A cipher.AEAD whose key lives in the driver, built on the copy path
// (Queue.Do): each Seal or Open is one job.

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// ErrOpen is the error the AEAD of NewAEAD returns from Open when the
// ciphertext, tag, nonce or additional data do not authenticate. Its text is
// the standard library's ("cipher: message authentication failed"), and it
// matches ErrAuthFailed with errors.Is.
var ErrOpen error = aeadOpenError{}

type aeadOpenError struct{}

func (aeadOpenError) Error() string        { return "cipher: message authentication failed" }
func (aeadOpenError) Is(target error) bool { return target == ErrAuthFailed }

const (
	aeadNonceLen = 12
	aeadTagLen   = 16
	// aeadMaxAAD is the most additional data a job can carry: the auxiliary
	// buffer (nonce || AAD) is at most ring.MaxAuxLen bytes.
	aeadMaxAAD = ring.MaxAuxLen - aeadNonceLen
	// aeadMaxPlain keeps ciphertext || tag within a buffer reference's 32-bit
	// length (GCM's own limit, about 64 GiB, is larger).
	aeadMaxPlain = math.MaxUint32 - aeadTagLen
)

// deviceAEAD is the cipher.AEAD NewAEAD returns.
type deviceAEAD struct {
	q          *Queue
	key        *Key
	seal, open ring.Opcode
	name       string // "GCM" or "ChaCha20-Poly1305", for panic messages
}

// NewAEAD returns a cipher.AEAD backed by key, an AES-128/256-GCM key
// (device.KeyAES) or a ChaCha20-Poly1305 key (device.KeyChaCha20Poly1305):
// every Seal and Open is a job on q, run on the device or, as q's Fallback
// says, in software. NonceSize is 12 and Overhead 16; the output is
// byte-identical to crypto/cipher's GCM and x/crypto's chacha20poly1305. The
// AEAD is safe for concurrent use, as Queue.Do is.
//
// Seal and Open follow cipher.AEAD's contract: they append to dst, dst may be
// exactly the input's memory (Seal(plaintext[:0], ...), Open(ciphertext[:0],
// ...)) but must not overlap it otherwise, and a nonce that is not 12 bytes
// long panics, as it does in the standard library. Open fails with ErrOpen
// (which matches ErrAuthFailed) when the message does not authenticate, and
// then writes nothing to dst; it returns the job's error when the job failed
// for another reason.
//
// cipher.AEAD.Seal has no way to report an error, so Seal panics (with an error
// value wrapping the job's error) if its job fails. With a FallbackAuto queue
// and a key that has a software copy (the default: not imported
// WithoutSoftwareCopy) that cannot happen short of a bug: a job the device
// refuses, cannot take or fails is rerun in software, and so are jobs submitted
// after the daemon went away. With a DeviceOnly queue, or a key without a
// software copy, a device error, a full ring (without WithBlockWhenFull), a
// lost daemon or a closed queue makes Seal panic: use such an AEAD only where a
// panic is the right answer to a device failure, or call Queue.Do (or the typed
// Queue.Seal) directly, which return errors.
//
// Additional data is limited to 65,523 bytes (what an SQE's auxiliary buffer
// carries after the nonce) and plaintexts to 4 GiB - 17 bytes: Seal panics
// beyond either, as crypto/cipher's Seal panics on a message too large for GCM,
// and Open returns an error matching ErrInvalid.
//
// Each call copies its inputs into registered memory and the output back; the
// nonce discipline is the caller's, as with any AEAD: never seal two messages
// with one key and one nonce.
//
// NewAEAD fails if the key is not an AEAD key, was imported on another
// device, or can never run on q: a key without a software copy on a queue that
// runs every job in software (or a device that is absent), or a DeviceOnly
// queue on a device that does not offer the operation.
func NewAEAD(q *Queue, key *Key) (cipher.AEAD, error) {
	if q == nil {
		return nil, fmt.Errorf("userdrv: NewAEAD: %w: nil queue", ErrInvalid)
	}
	if key == nil {
		return nil, fmt.Errorf("userdrv: NewAEAD: %w: nil key", ErrInvalid)
	}
	if key.dev != q.dev {
		return nil, fmt.Errorf("userdrv: NewAEAD: %w: the key was imported on another device", ErrInvalid)
	}
	a := &deviceAEAD{q: q, key: key}
	switch key.Kind() {
	case device.KeyAES:
		a.seal, a.open, a.name = ring.OpAESGCMSeal, ring.OpAESGCMOpen, "GCM"
	case device.KeyChaCha20Poly1305:
		a.seal, a.open, a.name = ring.OpChaCha20Poly1305Seal, ring.OpChaCha20Poly1305Open, "ChaCha20-Poly1305"
	default:
		return nil, fmt.Errorf("userdrv: NewAEAD: %w: a %v key is not an AES-GCM or ChaCha20-Poly1305 key", ErrInvalid, key.Kind())
	}
	if err := keyRunnable(q, key, a.seal, a.open); err != nil {
		return nil, fmt.Errorf("userdrv: NewAEAD: %w", err)
	}
	return a, nil
}

// keyRunnable reports why no job with key and one of ops could ever succeed on
// q, or nil if one can: on the device, or in software.
func keyRunnable(q *Queue, key *Key, ops ...ring.Opcode) error {
	if key.handle == 0 && key.soft == nil {
		return fmt.Errorf("%w: the key was destroyed", ErrInvalid)
	}
	soft := key.soft != nil && q.cfg.fallback != DeviceOnly
	for _, op := range ops {
		if (q.cfg.fallback != SoftwareOnly && q.dev.Supports(op) && key.handle != 0) || soft {
			return nil
		}
	}
	switch {
	case q.cfg.fallback == SoftwareOnly || !q.dev.Present():
		return fmt.Errorf("%w: the queue runs every job in software and the key has no software copy", ErrNotPermitted)
	case key.soft == nil:
		return fmt.Errorf("%w: the device does not offer %v and the key has no software copy", ErrUnsupported, ops[0])
	default:
		return fmt.Errorf("%w: the device does not offer %v and the queue is DeviceOnly", ErrUnsupported, ops[0])
	}
}

func (a *deviceAEAD) NonceSize() int { return aeadNonceLen }
func (a *deviceAEAD) Overhead() int  { return aeadTagLen }

// checkNonce panics as the standard library's AEADs do on a nonce of the wrong
// length.
func (a *deviceAEAD) checkNonce(nonce []byte, method string) {
	if len(nonce) != aeadNonceLen {
		if a.seal == ring.OpAESGCMSeal {
			panic("crypto/cipher: incorrect nonce length given to GCM")
		}
		panic("chacha20poly1305: bad nonce length passed to " + method)
	}
}

// aeadAuxOf builds the auxiliary buffer: nonce || additional data.
func aeadAuxOf(nonce, additionalData []byte) []byte {
	aux := make([]byte, aeadNonceLen+len(additionalData))
	copy(aux, nonce)
	copy(aux[aeadNonceLen:], additionalData)
	return aux
}

// Seal encrypts and authenticates plaintext and additionalData, appends
// ciphertext || tag to dst and returns the result. See NewAEAD for when it
// panics.
func (a *deviceAEAD) Seal(dst, nonce, plaintext, additionalData []byte) []byte {
	a.checkNonce(nonce, "Seal")
	if uint64(len(plaintext)) > aeadMaxPlain {
		panic("userdrv: message too large for " + a.name + " on the device")
	}
	if len(additionalData) > aeadMaxAAD {
		panic(fmt.Sprintf("userdrv: %d bytes of additional data exceed the %d a device job carries", len(additionalData), aeadMaxAAD))
	}
	n := len(plaintext) + aeadTagLen
	ret, out := appendSpace(dst, n)
	if inexactOverlap(out, plaintext) {
		panic("crypto/cipher: invalid buffer overlap")
	}
	res, err := a.q.Do(context.Background(), out[:0], Request{Op: a.seal, Key: a.key,
		Src: plaintext, Aux: aeadAuxOf(nonce, additionalData), DstLen: n})
	if err != nil {
		panic(fmt.Errorf("userdrv: %s Seal failed and cipher.AEAD.Seal cannot return an error "+
			"(use a FallbackAuto queue and a key with a software copy): %w", a.name, err))
	}
	if len(res.Out) != n {
		panic(fmt.Sprintf("userdrv: %s Seal produced %d bytes, want %d", a.name, len(res.Out), n))
	}
	copyIfMoved(out, res.Out)
	return ret
}

// Open authenticates and decrypts ciphertext || tag and additionalData,
// appends the plaintext to dst and returns the result; ErrOpen if the message
// does not authenticate.
func (a *deviceAEAD) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	a.checkNonce(nonce, "Open")
	if len(ciphertext) < aeadTagLen {
		return nil, ErrOpen
	}
	if uint64(len(ciphertext)) > aeadMaxPlain+aeadTagLen {
		return nil, ErrOpen // no Seal produced it
	}
	if len(additionalData) > aeadMaxAAD {
		return nil, fmt.Errorf("userdrv: %s Open: %w: %d bytes of additional data exceed the %d a device job carries",
			a.name, ErrInvalid, len(additionalData), aeadMaxAAD)
	}
	n := len(ciphertext) - aeadTagLen
	ret, out := appendSpace(dst, n)
	if inexactOverlap(out, ciphertext) {
		panic("crypto/cipher: invalid buffer overlap")
	}
	res, err := a.q.Do(context.Background(), out[:0], Request{Op: a.open, Key: a.key,
		Src: ciphertext, Aux: aeadAuxOf(nonce, additionalData), DstLen: n})
	if err != nil {
		if je := (*JobError)(nil); errors.As(err, &je) && je.Status == ring.StatusAuthFailed {
			return nil, ErrOpen
		}
		return nil, fmt.Errorf("userdrv: %s Open: %w", a.name, err)
	}
	if len(res.Out) != n {
		return nil, fmt.Errorf("userdrv: %s Open: %w: produced %d bytes, want %d", a.name, ErrDevice, len(res.Out), n)
	}
	copyIfMoved(out, res.Out)
	return ret, nil
}

// copyIfMoved copies got to out unless got is out: Do appends to out[:0], whose
// capacity holds the whole output, so it normally writes in place.
func copyIfMoved(out, got []byte) {
	if len(got) > 0 && unsafe.SliceData(got) != unsafe.SliceData(out) {
		copy(out, got)
	}
}

// appendSpace extends in by n bytes, in place if its capacity allows, and
// returns the whole slice and the n new bytes (crypto/cipher's sliceForAppend).
func appendSpace(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return
}

// inexactOverlap reports whether x and y share memory at any index other than
// the first (crypto/internal/alias.InexactOverlap): in-place use is exact.
func inexactOverlap(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 || &x[0] == &y[0] {
		return false
	}
	x0, y0 := uintptr(unsafe.Pointer(&x[0])), uintptr(unsafe.Pointer(&y[0]))
	return x0 <= y0+uintptr(len(y)-1) && y0 <= x0+uintptr(len(x)-1)
}
