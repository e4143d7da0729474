package userdrv

// The catalogue as typed, synchronous methods on the copy path (Queue.Do): each
// checks its arguments here, so that a mistake is reported by name rather than
// as a bare StatusInvalid, builds the request the UAPI specifies for the
// operation (docs/uapi.md), runs it and waits.

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// Sizes of the AEAD operations: a 12-byte nonce, a 16-byte tag.
const (
	NonceSize = 12
	TagSize   = 16
)

// Format is a compressed data format.
type Format uint8

// Formats Compress produces and Decompress reads.
const (
	FormatDeflate Format = iota // raw deflate, RFC 1951
	FormatZlib                  // zlib, RFC 1950
	FormatGzip                  // gzip, RFC 1952: Compress writes one member, Decompress reads any number
	FormatZstd                  // zstd, RFC 8878: Compress writes one frame with a checksum, Decompress reads any number
)

var formatNames = [...]string{"deflate", "zlib", "gzip", "zstd"}

// String returns the format's name: deflate, zlib, gzip or zstd.
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// CompressOp returns the opcode compressing into f, and false for an unknown format.
func (f Format) CompressOp() (ring.Opcode, bool) {
	switch f {
	case FormatDeflate:
		return ring.OpDeflateCompress, true
	case FormatZlib:
		return ring.OpZlibCompress, true
	case FormatGzip:
		return ring.OpGzipCompress, true
	case FormatZstd:
		return ring.OpZstdCompress, true
	}
	return 0, false
}

// DecompressOp returns the opcode decompressing f, and false for an unknown format.
func (f Format) DecompressOp() (ring.Opcode, bool) {
	switch f {
	case FormatDeflate:
		return ring.OpDeflateDecompress, true
	case FormatZlib:
		return ring.OpZlibDecompress, true
	case FormatGzip:
		return ring.OpGzipDecompress, true
	case FormatZstd:
		return ring.OpZstdDecompress, true
	}
	return 0, false
}

// MaxLevel returns the highest compression level of f: 9 for the deflate
// family, 22 for zstd.
func (f Format) MaxLevel() int {
	if f == FormatZstd {
		return 22
	}
	return 9
}

// CompressBound returns the destination Compress gives a job compressing n bytes
// into f: the worst case of incompressible input. For the deflate family that
// is n + n/8 + 1024 (stored blocks cost 5 bytes per 64 KiB, and the zlib and
// gzip wrappers 6 and 18 bytes: the bound is generous). For zstd it is
// ZSTD_COMPRESSBOUND of the reference library, n + n/256, plus up to 64 bytes
// for small inputs, which covers the frame header, raw-block headers and the
// checksum.
func CompressBound(f Format, n int) int {
	if n < 0 {
		return 0
	}
	if f == FormatZstd {
		const block = 128 << 10
		b := n + n>>8
		if n < block {
			b += (block - n) >> 11
		}
		return b
	}
	return n + n/8 + 1024
}

// argError is an argument the library refuses before submitting anything. It
// matches ErrInvalid with errors.Is.
func argError(what, format string, args ...any) error {
	return fmt.Errorf("userdrv: %s: %w: %s", what, ErrInvalid, fmt.Sprintf(format, args...))
}

// checkKey checks that k can be named in a job of this queue.
func (q *Queue) checkKey(what string, k *Key) error {
	switch {
	case k == nil:
		return argError(what, "no key")
	case k.dev != q.dev:
		return argError(what, "the key was imported on another device")
	case k.handle == 0 && k.soft == nil:
		return argError(what, "the key was destroyed (or is usable neither on the device nor in software)")
	}
	return nil
}

// run runs req on the copy path. The output gets a slice of exactly req.DstLen
// capacity when prealloc is set (the output length is known), else one the size
// of what was produced.
func (q *Queue) run(ctx context.Context, req Request, prealloc bool) ([]byte, Result, error) {
	var dst []byte
	if prealloc {
		dst = make([]byte, 0, req.DstLen)
	}
	res, err := q.Do(ctx, dst, req)
	if err != nil {
		return nil, res, err
	}
	if res.Out == nil {
		res.Out = []byte{}
	}
	return res.Out, res, nil
}

// aeadOp picks the AEAD opcode for the key's kind.
func (q *Queue) aeadOp(what string, key *Key, aes, chacha ring.Opcode) (ring.Opcode, error) {
	if err := q.checkKey(what, key); err != nil {
		return 0, err
	}
	switch key.kind {
	case device.KeyAES:
		return aes, nil
	case device.KeyChaCha20Poly1305:
		return chacha, nil
	}
	return 0, argError(what, "a %v key is not an AES-GCM or ChaCha20-Poly1305 key", key.kind)
}

// aeadAux builds the auxiliary buffer of an AEAD job: nonce || additional data.
func aeadAux(what string, nonce, aad []byte) ([]byte, error) {
	if len(nonce) != NonceSize {
		return nil, argError(what, "nonce of %d bytes, want %d", len(nonce), NonceSize)
	}
	if len(aad) > ring.MaxAuxLen-NonceSize {
		return nil, argError(what, "%d bytes of additional data exceed the %d an entry can carry",
			len(aad), ring.MaxAuxLen-NonceSize)
	}
	aux := make([]byte, 0, NonceSize+len(aad))
	return append(append(aux, nonce...), aad...), nil
}

// Seal encrypts and authenticates plaintext and additional data aad with key,
// an AES-128/256-GCM or ChaCha20-Poly1305 key (the key's kind chooses), under a
// 12-byte nonce, and returns ciphertext || 16-byte tag. A nonce must never be
// used twice with one key.
func (q *Queue) Seal(ctx context.Context, key *Key, nonce, plaintext, aad []byte) ([]byte, error) {
	op, err := q.aeadOp("seal", key, ring.OpAESGCMSeal, ring.OpChaCha20Poly1305Seal)
	if err != nil {
		return nil, err
	}
	aux, err := aeadAux("seal", nonce, aad)
	if err != nil {
		return nil, err
	}
	out, _, err := q.run(ctx, Request{Op: op, Key: key, Src: plaintext, Aux: aux, DstLen: len(plaintext) + TagSize}, true)
	return out, err
}

// Open checks and decrypts ciphertext || tag sealed with key, nonce and aad, and
// returns the plaintext. A ciphertext, tag, nonce or aad that does not verify
// fails with a *JobError matching ErrAuthFailed, and nothing is decrypted.
func (q *Queue) Open(ctx context.Context, key *Key, nonce, ciphertext, aad []byte) ([]byte, error) {
	op, err := q.aeadOp("open", key, ring.OpAESGCMOpen, ring.OpChaCha20Poly1305Open)
	if err != nil {
		return nil, err
	}
	if len(ciphertext) < TagSize {
		return nil, argError("open", "ciphertext of %d bytes is shorter than the %d-byte tag", len(ciphertext), TagSize)
	}
	aux, err := aeadAux("open", nonce, aad)
	if err != nil {
		return nil, err
	}
	out, _, err := q.run(ctx, Request{Op: op, Key: key, Src: ciphertext, Aux: aux, DstLen: len(ciphertext) - TagSize}, true)
	return out, err
}

func (q *Queue) xts(ctx context.Context, what string, op ring.Opcode, key *Key, sector uint64, data []byte) ([]byte, error) {
	if err := q.checkKey(what, key); err != nil {
		return nil, err
	}
	if key.kind != device.KeyAESXTS {
		return nil, argError(what, "a %v key is not an AES-256-XTS key", key.kind)
	}
	if len(data) == 0 || len(data)%16 != 0 {
		return nil, argError(what, "data unit of %d bytes, want a non-zero multiple of 16 (no ciphertext stealing)", len(data))
	}
	var aux [8]byte
	binary.LittleEndian.PutUint64(aux[:], sector)
	out, _, err := q.run(ctx, Request{Op: op, Key: key, Src: data, Aux: aux[:], DstLen: len(data)}, true)
	return out, err
}

// EncryptXTS encrypts one data unit (a sector) with an AES-256-XTS key; the
// sector number is the tweak (IEEE 1619, little-endian). data must be a
// non-zero multiple of 16 bytes. The ciphertext is as long as data.
func (q *Queue) EncryptXTS(ctx context.Context, key *Key, sector uint64, data []byte) ([]byte, error) {
	return q.xts(ctx, "encrypt xts", ring.OpAESXTSEncrypt, key, sector, data)
}

// DecryptXTS decrypts one data unit encrypted by EncryptXTS with the same key and sector.
func (q *Queue) DecryptXTS(ctx context.Context, key *Key, sector uint64, data []byte) ([]byte, error) {
	return q.xts(ctx, "decrypt xts", ring.OpAESXTSDecrypt, key, sector, data)
}

// Digest returns the hash of data: h is crypto.SHA256, crypto.SHA384 or crypto.SHA512.
func (q *Queue) Digest(ctx context.Context, h crypto.Hash, data []byte) ([]byte, error) {
	var op ring.Opcode
	switch h {
	case crypto.SHA256:
		op = ring.OpSHA256
	case crypto.SHA384:
		op = ring.OpSHA384
	case crypto.SHA512:
		op = ring.OpSHA512
	default:
		return nil, argError("digest", "hash %v, want SHA-256, SHA-384 or SHA-512", h)
	}
	out, _, err := q.run(ctx, Request{Op: op, Src: data, DstLen: h.Size()}, true)
	return out, err
}

// MAC returns the HMAC of data with key, an HMAC key: h is crypto.SHA256 or crypto.SHA512.
func (q *Queue) MAC(ctx context.Context, key *Key, h crypto.Hash, data []byte) ([]byte, error) {
	if err := q.checkKey("mac", key); err != nil {
		return nil, err
	}
	if key.kind != device.KeyHMAC {
		return nil, argError("mac", "a %v key is not an HMAC key", key.kind)
	}
	var op ring.Opcode
	switch h {
	case crypto.SHA256:
		op = ring.OpHMACSHA256
	case crypto.SHA512:
		op = ring.OpHMACSHA512
	default:
		return nil, argError("mac", "hash %v, want SHA-256 or SHA-512", h)
	}
	out, _, err := q.run(ctx, Request{Op: op, Key: key, Src: data, DstLen: h.Size()}, true)
	return out, err
}

// CRC32C returns the CRC32C (Castagnoli) of data continuing from seed, the CRC
// of the data before it (0 to start): CRC32C(a||b, 0) == CRC32C(b, CRC32C(a, 0)),
// as crc32.Update computes.
func (q *Queue) CRC32C(ctx context.Context, data []byte, seed uint32) (uint32, error) {
	var aux [4]byte
	binary.LittleEndian.PutUint32(aux[:], seed)
	_, res, err := q.run(ctx, Request{Op: ring.OpCRC32C, Src: data, Aux: aux[:]}, false)
	if err != nil {
		return 0, err
	}
	return uint32(res.Sum), nil
}

// rsaHash checks an RSA hash and the digest it names.
func rsaHash(what string, h crypto.Hash, digest []byte) error {
	switch h {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return argError(what, "RSA with hash %v, want SHA-256, SHA-384 or SHA-512", h)
	}
	if len(digest) != h.Size() {
		return argError(what, "%v digest of %d bytes, want %d", h, len(digest), h.Size())
	}
	return nil
}

// pssSalt checks PSS options: the device's salt is as long as the hash.
func pssSalt(what string, o *rsa.PSSOptions, h crypto.Hash) error {
	switch o.SaltLength {
	case rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto, h.Size():
		return nil
	}
	return argError(what, "PSS salt length %d: the device's salt is as long as the hash (%d bytes); "+
		"use rsa.PSSSaltLengthEqualsHash", o.SaltLength, h.Size())
}

// ecdsaDigest checks an ECDSA digest against the hash the options name.
func ecdsaDigest(what string, digest []byte, h crypto.Hash) error {
	switch len(digest) {
	case 32, 48, 64:
	default:
		return argError(what, "ECDSA digest of %d bytes, want 32, 48 or 64 (SHA-256, SHA-384, SHA-512)", len(digest))
	}
	if h != 0 && h.Size() != len(digest) {
		return argError(what, "%d-byte digest with hash %v: the device derives the hash from the digest length", len(digest), h)
	}
	return nil
}

// ed25519Opts checks that opts ask for pure Ed25519.
func ed25519Opts(what string, opts crypto.SignerOpts) error {
	if h := opts.HashFunc(); h != 0 {
		return argError(what, "Ed25519 with hash %v: only pure Ed25519 is offered (pass crypto.Hash(0) and the message)", h)
	}
	if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
		return argError(what, "Ed25519 with a context: only pure Ed25519 is offered")
	}
	return nil
}

// ecdsaSigLen is the longest DER signature on the curve: the destination the
// device demands.
func ecdsaSigLen(bits int) int {
	if bits > 256 {
		return 104
	}
	return 72
}

// Sign signs with a private key held by the driver, like crypto.Signer.Sign:
//   - RSA: digest is the hash of the message, opts.HashFunc() its hash (SHA-256,
//     SHA-384 or SHA-512). With *rsa.PSSOptions the signature is RSASSA-PSS with
//     MGF1 of the same hash and a salt as long as the hash; SaltLength must be
//     rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto or the hash size (Auto
//     also gets a hash-length salt). Otherwise it is PKCS #1 v1.5.
//   - ECDSA P-256/P-384: digest is 32, 48 or 64 bytes (and opts.HashFunc(), if
//     not zero, must be the hash of that size); the signature is ASN.1 DER with a
//     deterministic nonce (RFC 6979), byte-identical on the device and in software.
//   - Ed25519: opts.HashFunc() must be 0, and digest is then the whole message.
//
// A nil opts is an error, as it is for the standard library's signers.
func (q *Queue) Sign(ctx context.Context, key *Key, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	const what = "sign"
	if err := q.checkKey(what, key); err != nil {
		return nil, err
	}
	if opts == nil {
		return nil, argError(what, "nil crypto.SignerOpts")
	}
	req := Request{Key: key, Src: digest}
	switch priv := key.parsed.Signer().(type) {
	case *rsa.PrivateKey:
		h := opts.HashFunc()
		if err := rsaHash(what, h, digest); err != nil {
			return nil, err
		}
		req.Op, req.Param, req.DstLen = ring.OpRSASignPKCS1v15, uint16(h), priv.Size()
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			if err := pssSalt(what, pss, h); err != nil {
				return nil, err
			}
			req.Op = ring.OpRSASignPSS
		}
	case *ecdsa.PrivateKey:
		if err := ecdsaDigest(what, digest, opts.HashFunc()); err != nil {
			return nil, err
		}
		req.Op, req.DstLen = ring.OpECDSASign, ecdsaSigLen(priv.Curve.Params().BitSize)
	case ed25519.PrivateKey:
		if err := ed25519Opts(what, opts); err != nil {
			return nil, err
		}
		req.Op, req.DstLen = ring.OpEd25519Sign, ed25519.SignatureSize
	default:
		return nil, argError(what, "a %v key holds no RSA, ECDSA or Ed25519 private key", key.kind)
	}
	out, _, err := q.run(ctx, req, true)
	return out, err
}

// Verify checks sig over digest with key, a public key or a private key's
// public half: the same algorithms, digests and options as Sign (RSA-PSS
// verification expects a salt as long as the hash, whatever SaltLength says, as
// long as it is one Sign accepts). A signature that does not verify, malformed
// or not, fails with a *JobError matching ErrAuthFailed.
func (q *Queue) Verify(ctx context.Context, key *Key, digest, sig []byte, opts crypto.SignerOpts) error {
	const what = "verify"
	if err := q.checkKey(what, key); err != nil {
		return err
	}
	if opts == nil {
		return argError(what, "nil crypto.SignerOpts")
	}
	if len(sig) > ring.MaxAuxLen {
		return argError(what, "signature of %d bytes exceeds the %d an entry can carry", len(sig), ring.MaxAuxLen)
	}
	req := Request{Key: key, Src: digest, Aux: sig}
	switch key.public.(type) {
	case *rsa.PublicKey:
		h := opts.HashFunc()
		if err := rsaHash(what, h, digest); err != nil {
			return err
		}
		req.Op, req.Param = ring.OpRSAVerifyPKCS1v15, uint16(h)
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			if err := pssSalt(what, pss, h); err != nil {
				return err
			}
			req.Op = ring.OpRSAVerifyPSS
		}
	case *ecdsa.PublicKey:
		if err := ecdsaDigest(what, digest, opts.HashFunc()); err != nil {
			return err
		}
		req.Op = ring.OpECDSAVerify
	case ed25519.PublicKey:
		if err := ed25519Opts(what, opts); err != nil {
			return err
		}
		req.Op = ring.OpEd25519Verify
	default:
		return argError(what, "a %v key holds no RSA, ECDSA or Ed25519 public key", key.kind)
	}
	_, _, err := q.run(ctx, req, false)
	return err
}

// DecryptOAEP decrypts an RSAES-OAEP ciphertext (exactly as long as the modulus)
// with an RSA private key, h (SHA-256, SHA-384 or SHA-512) as the OAEP and MGF1
// hash, and label (may be empty). A ciphertext that does not decrypt fails with
// a *JobError matching ErrAuthFailed, which does not say why (RFC 8017 7.1.2).
func (q *Queue) DecryptOAEP(ctx context.Context, key *Key, h crypto.Hash, ciphertext, label []byte) ([]byte, error) {
	const what = "decrypt oaep"
	if err := q.checkKey(what, key); err != nil {
		return nil, err
	}
	priv, ok := key.parsed.Signer().(*rsa.PrivateKey)
	if !ok {
		return nil, argError(what, "a %v key holds no RSA private key", key.kind)
	}
	switch h {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return nil, argError(what, "OAEP with hash %v, want SHA-256, SHA-384 or SHA-512", h)
	}
	if len(ciphertext) != priv.Size() {
		return nil, argError(what, "ciphertext of %d bytes, want %d (the modulus length)", len(ciphertext), priv.Size())
	}
	if len(label) > ring.MaxAuxLen {
		return nil, argError(what, "label of %d bytes exceeds the %d an entry can carry", len(label), ring.MaxAuxLen)
	}
	out, _, err := q.run(ctx, Request{Op: ring.OpRSADecryptOAEP, Param: uint16(h), Key: key,
		Src: ciphertext, Aux: label, DstLen: priv.Size()}, false)
	return out, err
}

// ECDH returns the shared secret of key and the peer's public key: X25519 for
// an X25519 key (peerPublic is 32 bytes, RFC 7748; an all-zero result is
// refused), or ECDH on P-256/P-384 for an ECDSA key of that curve (peerPublic is
// an uncompressed SEC 1 point, 65 or 97 bytes; the secret is its x-coordinate
// after multiplication, 32 or 48 bytes), as crypto/ecdh computes them. A peer
// key that is not a valid point fails with a *JobError matching ErrInvalid.
func (q *Queue) ECDH(ctx context.Context, key *Key, peerPublic []byte) ([]byte, error) {
	const what = "ecdh"
	if err := q.checkKey(what, key); err != nil {
		return nil, err
	}
	priv := key.parsed.ECDH()
	if priv == nil {
		return nil, argError(what, "a %v key holds no X25519, P-256 or P-384 private key", key.kind)
	}
	req := Request{Op: ring.OpECDH, Key: key, Aux: peerPublic}
	var peerLen int
	switch priv.Curve() {
	case ecdh.X25519():
		req.Op, req.DstLen, peerLen = ring.OpX25519, 32, 32
	case ecdh.P256():
		req.DstLen, peerLen = 32, 65
	case ecdh.P384():
		req.DstLen, peerLen = 48, 97
	default:
		return nil, argError(what, "unsupported curve %v", priv.Curve())
	}
	if len(peerPublic) != peerLen {
		return nil, argError(what, "peer public key of %d bytes, want %d", len(peerPublic), peerLen)
	}
	out, _, err := q.run(ctx, req, true)
	return out, err
}

// Compress compresses data into one stream of format f (a gzip member, a zstd
// frame with a checksum, a zlib stream or raw deflate) that any standard
// decoder reads. level is 1-9 for the deflate family, 1-22 for zstd; 0 (or -1,
// as flate.DefaultCompression) is the format's default. The job's destination
// is CompressBound(f, len(data)).
func (q *Queue) Compress(ctx context.Context, f Format, level int, data []byte) ([]byte, error) {
	const what = "compress"
	op, ok := f.CompressOp()
	if !ok {
		return nil, argError(what, "unknown format %v", f)
	}
	if level == -1 {
		level = 0
	}
	if level < 0 || level > f.MaxLevel() {
		return nil, argError(what, "%v level %d, want 1 to %d (or 0 for the default)", f, level, f.MaxLevel())
	}
	out, _, err := q.run(ctx, Request{Op: op, Param: uint16(level), Src: data, DstLen: CompressBound(f, len(data))}, false)
	return out, err
}

// Decompress decompresses data, in format f, producing at most maxOut bytes:
// more fails with a *JobError matching ErrNoSpace (the device stops there, so a
// decompression bomb costs nothing), and a corrupt stream with one matching
// ErrBadData. The job's destination, and so the registered memory it takes
// while it runs, is maxOut bytes.
func (q *Queue) Decompress(ctx context.Context, f Format, data []byte, maxOut int) ([]byte, error) {
	const what = "decompress"
	op, ok := f.DecompressOp()
	if !ok {
		return nil, argError(what, "unknown format %v", f)
	}
	if maxOut < 0 {
		return nil, argError(what, "negative output limit %d", maxOut)
	}
	out, _, err := q.run(ctx, Request{Op: op, Src: data, DstLen: maxOut}, false)
	return out, err
}

// Raw submits sqe as it is, on the device: its opcode, flags, param, key handle
// and buffer references, which name the caller's registered memory (see
// Buffer.Ref; a Key's handle is not exposed, so a raw entry with a key is for
// testing the device's checks). It waits for the completion and returns the CQE,
// with sqe's UserData; a status other than StatusOK is also returned as a
// *JobError. The caller keeps the buffers alive and untouched until Raw
// returns; if ctx ends first, Raw returns ctx.Err() and the entry stays in
// flight, its buffers in use until it completes, which the caller cannot
// observe: end ctx only when the buffers can be abandoned.
//
// A raw entry never runs in software (the library cannot resolve its
// references): on a SoftwareOnly queue, or without a device, Raw fails with
// ErrUnsupported; on a FallbackAuto queue it behaves as on a DeviceOnly one.
func (q *Queue) Raw(ctx context.Context, sqe ring.SQE) (ring.CQE, error) {
	if q.dev.be == nil || q.cfg.fallback == SoftwareOnly {
		return ring.CQE{}, fmt.Errorf("userdrv: raw: %w: the queue runs every job in software, and a raw entry runs only on a device", ErrUnsupported)
	}
	if sqe.Aux.Len > ring.MaxAuxLen {
		return ring.CQE{}, argError("raw", "auxiliary length %d exceeds %d", sqe.Aux.Len, ring.MaxAuxLen)
	}
	entry := sqe
	j := &Job{Op: sqe.Opcode, Flags: sqe.Flags, Param: sqe.Param, raw: &entry}
	if err := q.Submit(j); err != nil {
		return ring.CQE{}, err
	}
	err := j.Wait(ctx)
	var je *JobError
	if err != nil && !errors.As(err, &je) {
		return ring.CQE{}, err // ctx ended: the entry is still in flight
	}
	c := ring.CQE{UserData: sqe.UserData, Result: uint32(j.N), Status: j.Status, Flags: j.CQEFlags, Aux: j.Sum}
	if je != nil {
		c.DevErr = je.DevErr
	}
	return c, err
}
