package ring

import "fmt"

// Opcode names an operation in an SQE. Opcodes are grouped by engine class in
// ranges of 32: symmetric from 0x01, asymmetric from 0x20, compression from 0x40.
// The per-opcode use of Src, Dst, Aux, Key and Param is specified in docs/uapi.md.
type Opcode uint8

// Operations of ABI version 1.
const (
	// OpNop does nothing and completes with StatusOK; it measures the path itself.
	OpNop Opcode = 0x00

	// AEAD. Key: an AES-128/256 or ChaCha20-Poly1305 key. Aux: 12-byte nonce
	// followed by the additional data. Seal writes ciphertext||tag (16 bytes) to
	// Dst; Open reads ciphertext||tag from Src and writes nothing unless the tag
	// verifies.
	OpAESGCMSeal           Opcode = 0x01
	OpAESGCMOpen           Opcode = 0x02
	OpChaCha20Poly1305Seal Opcode = 0x03
	OpChaCha20Poly1305Open Opcode = 0x04
	OpAESXTSEncrypt        Opcode = 0x05 // Key: 64-byte AES-256-XTS key; Aux: 8-byte little-endian data unit number; Src length a multiple of 16
	OpAESXTSDecrypt        Opcode = 0x06
	OpSHA256               Opcode = 0x07 // Src -> 32-byte digest in Dst
	OpSHA384               Opcode = 0x08 // Src -> 48-byte digest in Dst
	OpSHA512               Opcode = 0x09 // Src -> 64-byte digest in Dst
	OpHMACSHA256           Opcode = 0x0a // Key: MAC key; Src -> 32-byte MAC in Dst
	OpHMACSHA512           Opcode = 0x0b // Key: MAC key; Src -> 64-byte MAC in Dst
	OpCRC32C               Opcode = 0x0c // Src -> CRC32C in the CQE's Aux; optional 4-byte little-endian seed in Aux
	opSymmetricEnd         Opcode = 0x0d
	opAsymmetricBase       Opcode = 0x20
	OpRSASignPSS           Opcode = 0x20 // Key: RSA private; Src: digest; Param: crypto.Hash; salt length = hash length; signature -> Dst
	OpRSASignPKCS1v15      Opcode = 0x21 // Key: RSA private; Src: digest; Param: crypto.Hash
	OpRSAVerifyPSS         Opcode = 0x22 // Key: RSA public or private; Src: digest; Aux: signature; Param: crypto.Hash
	OpRSAVerifyPKCS1v15    Opcode = 0x23 // as OpRSAVerifyPSS
	OpRSADecryptOAEP       Opcode = 0x24 // Key: RSA private; Src: ciphertext; Aux: label; Param: crypto.Hash; plaintext -> Dst
	OpECDSASign            Opcode = 0x25 // Key: P-256 or P-384 private; Src: digest; ASN.1 DER signature -> Dst
	OpECDSAVerify          Opcode = 0x26 // Key: ECDSA public or private; Src: digest; Aux: ASN.1 DER signature
	OpEd25519Sign          Opcode = 0x27 // Key: Ed25519 private; Src: message; 64-byte signature -> Dst
	OpEd25519Verify        Opcode = 0x28 // Key: Ed25519 public or private; Src: message; Aux: signature
	OpX25519               Opcode = 0x29 // Key: X25519 private; Aux: 32-byte peer public key; shared secret -> Dst
	OpECDH                 Opcode = 0x2a // Key: P-256 or P-384 ECDH private; Aux: uncompressed peer point; shared secret -> Dst
	opAsymmetricEnd        Opcode = 0x2b
	opCompressionBase      Opcode = 0x40
	OpDeflateCompress      Opcode = 0x40 // raw deflate (RFC 1951); Param: level 1-9, 0 default; CQE Aux: CRC32 of Src
	OpZlibCompress         Opcode = 0x41 // zlib (RFC 1950); as OpDeflateCompress
	OpGzipCompress         Opcode = 0x42 // one gzip member (RFC 1952); as OpDeflateCompress
	OpZstdCompress         Opcode = 0x43 // one zstd frame with checksum; Param: level 1-22, 0 default; CQE Aux: xxhash64 of Src
	opCompressEnd          Opcode = 0x44
	OpDeflateDecompress    Opcode = 0x48 // raw deflate -> Dst; CQE Aux: CRC32 of the output
	OpZlibDecompress       Opcode = 0x49 // zlib -> Dst; CQE Aux: CRC32 of the output
	OpGzipDecompress       Opcode = 0x4a // gzip, any number of members -> Dst; CQE Aux: CRC32 of the output
	OpZstdDecompress       Opcode = 0x4b // zstd, any number of frames -> Dst; CQE Aux: xxhash64 of the output
	opCompressionEnd       Opcode = 0x4c
)

// Class is an engine class: the kind of engine an opcode runs on.
type Class uint8

// Engine classes. As a bit mask (1 << Class) they say which classes a queue may use.
const (
	ClassNone        Class = iota // OpNop: no engine
	ClassSymmetric                // ciphers, hashes, MACs, CRC
	ClassAsymmetric               // public-key operations
	ClassCompression              // compression and decompression
	NumClasses
)

var classNames = [...]string{"none", "symmetric", "asymmetric", "compression"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Class returns the engine class an opcode runs on, and false if the opcode is
// not defined in this ABI version.
func (o Opcode) Class() (Class, bool) {
	switch {
	case o == OpNop:
		return ClassNone, true
	case o < opSymmetricEnd:
		return ClassSymmetric, true
	case o >= opAsymmetricBase && o < opAsymmetricEnd:
		return ClassAsymmetric, true
	case o >= opCompressionBase && o < opCompressEnd,
		o >= OpDeflateDecompress && o < opCompressionEnd:
		return ClassCompression, true
	}
	return 0, false
}

// Valid reports whether o is defined in this ABI version.
func (o Opcode) Valid() bool { _, ok := o.Class(); return ok }

var opNames = map[Opcode]string{
	OpNop: "nop", OpAESGCMSeal: "aes-gcm-seal", OpAESGCMOpen: "aes-gcm-open",
	OpChaCha20Poly1305Seal: "chacha20-poly1305-seal", OpChaCha20Poly1305Open: "chacha20-poly1305-open",
	OpAESXTSEncrypt: "aes-xts-encrypt", OpAESXTSDecrypt: "aes-xts-decrypt",
	OpSHA256: "sha256", OpSHA384: "sha384", OpSHA512: "sha512",
	OpHMACSHA256: "hmac-sha256", OpHMACSHA512: "hmac-sha512", OpCRC32C: "crc32c",
	OpRSASignPSS: "rsa-sign-pss", OpRSASignPKCS1v15: "rsa-sign-pkcs1v15",
	OpRSAVerifyPSS: "rsa-verify-pss", OpRSAVerifyPKCS1v15: "rsa-verify-pkcs1v15",
	OpRSADecryptOAEP: "rsa-decrypt-oaep", OpECDSASign: "ecdsa-sign", OpECDSAVerify: "ecdsa-verify",
	OpEd25519Sign: "ed25519-sign", OpEd25519Verify: "ed25519-verify",
	OpX25519: "x25519", OpECDH: "ecdh",
	OpDeflateCompress: "deflate-compress", OpZlibCompress: "zlib-compress",
	OpGzipCompress: "gzip-compress", OpZstdCompress: "zstd-compress",
	OpDeflateDecompress: "deflate-decompress", OpZlibDecompress: "zlib-decompress",
	OpGzipDecompress: "gzip-decompress", OpZstdDecompress: "zstd-decompress",
}

// String returns the opcode's name as used in policy files and tools.
func (o Opcode) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return fmt.Sprintf("opcode(%#02x)", uint8(o))
}

// Opcodes returns every opcode defined in this ABI version, in numeric order.
func Opcodes() []Opcode {
	var ops []Opcode
	for o := 0; o < 256; o++ {
		if Opcode(o).Valid() {
			ops = append(ops, Opcode(o))
		}
	}
	return ops
}

// ParseOpcode returns the opcode with the given name.
func ParseOpcode(name string) (Opcode, error) {
	for o, n := range opNames {
		if n == name {
			return o, nil
		}
	}
	return 0, fmt.Errorf("unknown operation %q", name)
}
