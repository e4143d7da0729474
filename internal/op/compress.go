package op

// Compression: raw deflate (RFC 1951), zlib (RFC 1950), gzip (RFC 1952) and
// zstd (RFC 8878), compress and decompress, with github.com/klauspost/compress.
//
// Compression reads Src in chunks copied into private memory, hashes each chunk
// and hands the same copy to the encoder, so the stream, its internal checksum
// and the CQE's Aux always agree even if the client rewrites Src meanwhile.
// Encoders write into dst through a sink that refuses to go past len(dst);
// the first refusal aborts the job with StatusNoSpace. Encoders are pooled per
// level: creating one costs far more than a small job (a zstd best-level
// encoder carries about 34 MiB of match tables).

import (
	"errors"
	"hash/crc32"
	"io"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// codec is a compressed format.
type codec uint8

const (
	codecDeflate codec = iota // raw deflate, RFC 1951
	codecZlib                 // RFC 1950
	codecGzip                 // RFC 1952
	codecZstd                 // RFC 8878
	numCodecs
)

var codecNames = [numCodecs]string{"deflate", "zlib", "gzip", "zstd"}

func (c codec) String() string { return codecNames[c] }

// Opcodes per codec.
var (
	compressOps   = [numCodecs]ring.Opcode{ring.OpDeflateCompress, ring.OpZlibCompress, ring.OpGzipCompress, ring.OpZstdCompress}
	decompressOps = [numCodecs]ring.Opcode{ring.OpDeflateDecompress, ring.OpZlibDecompress, ring.OpGzipDecompress, ring.OpZstdDecompress}
)

func init() {
	for c := range numCodecs {
		register(compressOps[c], false, func(param uint16, _ *device.Key, src, aux, dst []byte) Result {
			return compress(c, param, src, aux, dst)
		})
		register(decompressOps[c], false, func(param uint16, _ *device.Key, src, aux, dst []byte) Result {
			return decompress(c, param, src, aux, dst)
		})
	}
}

const (
	// maxDeflateLevel and maxZstdLevel bound Param for compression; 0 selects
	// the codec's default level.
	maxDeflateLevel = 9
	maxZstdLevel    = 22

	// chunkSize is how much of Src is copied into private memory at a time.
	chunkSize = 64 << 10
)

// emptyZstdFrame is the frame for empty content: single segment with a content
// size of 0, one empty last raw block, and the checksum (the low 32 bits of
// xxhash64 of nothing, 0xef46db3751d8e999).
var emptyZstdFrame = []byte{
	0x28, 0xb5, 0x2f, 0xfd, // magic
	0x24,             // frame header descriptor: single segment, checksum
	0x00,             // content size 0
	0x01, 0x00, 0x00, // last block, raw, 0 bytes
	0x99, 0xe9, 0xd8, 0x51, // checksum
}

// errNoSpace is returned by sink when dst is full; it aborts the encoder.
var errNoSpace = errors.New("op: destination full")

// sink is an io.Writer over a fixed buffer that never grows: a write that does
// not fit is refused whole, and nothing is written past len(buf).
type sink struct {
	buf []byte
	n   int
}

func (s *sink) Write(p []byte) (int, error) {
	if len(p) > len(s.buf)-s.n {
		return 0, errNoSpace
	}
	s.n += copy(s.buf[s.n:], p)
	return len(p), nil
}

// resetWriter is what every encoder we pool provides.
type resetWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// encoder is a pooled compressor with its sink and chunk buffer.
type encoder struct {
	w     resetWriter
	zstd  *zstd.Encoder // w as a zstd encoder, nil for the deflate family
	out   sink
	chunk []byte
	xx    xxhash.Digest
}

// encoderPools holds pools per codec and level index: 0-9 for the deflate
// family (0 = default), and for zstd the zstd.EncoderLevel (1-4).
var encoderPools [numCodecs][maxDeflateLevel + 1]sync.Pool

// levelIndex maps Param to an encoderPools index, false if Param is no level.
func levelIndex(c codec, param uint16) (int, bool) {
	if c == codecZstd {
		switch {
		case param == 0:
			return int(zstd.SpeedDefault), true
		case param <= maxZstdLevel:
			return int(zstd.EncoderLevelFromZstd(int(param))), true
		}
		return 0, false
	}
	return int(param), param <= maxDeflateLevel
}

// zstdWidePools hold zstd encoders for inputs larger than zstdMaxWindow. A
// single-segment frame's window is its whole content, and a decoder (ours
// included) need not accept windows above 8 MiB; these encoders write ordinary
// frames whose window is the level's default instead.
var zstdWidePools [maxDeflateLevel + 1]sync.Pool

func newEncoder(c codec, idx int, wide bool) *encoder {
	level := idx
	if level == 0 {
		level = flate.DefaultCompression
	}
	var (
		w   resetWriter
		err error
		e   = &encoder{chunk: make([]byte, chunkSize)}
	)
	switch c {
	case codecDeflate:
		w, err = flate.NewWriter(nil, level)
	case codecZlib:
		w, err = zlib.NewWriterLevel(nil, level)
	case codecGzip:
		w, err = gzip.NewWriterLevel(nil, level)
	case codecZstd:
		// Concurrency 1: blocks are compressed synchronously on the calling
		// goroutine, no goroutines outlive the job, and memory stays one
		// window of history plus one block. The frame carries a checksum;
		// the window is the library default for the level (at most 8 MiB),
		// which every conforming decoder must accept.
		e.zstd, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.EncoderLevel(idx)),
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(true),
			// A single-segment header is the only way the library records
			// a content size below 256 bytes, and the window it implies
			// (the content size) is the smallest possible; above
			// zstdMaxWindow that window would be too large to decode.
			zstd.WithSingleSegment(!wide))
		w = e.zstd
	}
	if err != nil {
		panic(err) // levels are validated by levelIndex
	}
	e.w = w
	return e
}

func encoderPool(c codec, idx int, wide bool) *sync.Pool {
	if wide {
		return &zstdWidePools[idx]
	}
	return &encoderPools[c][idx]
}

func getEncoder(c codec, idx int, wide bool) *encoder {
	if e, ok := encoderPool(c, idx, wide).Get().(*encoder); ok {
		return e
	}
	return newEncoder(c, idx, wide)
}

// putEncoder returns e to its pool. The encoder only ever saw our chunk
// buffer and the sink, so forgetting dst is all it takes to hold no client
// memory; the next job resets the encoder.
func putEncoder(c codec, idx int, wide bool, e *encoder) {
	e.out = sink{}
	encoderPool(c, idx, wide).Put(e)
}

// compress runs a compression opcode. See ring.OpDeflateCompress.
func compress(c codec, param uint16, src, aux, dst []byte) Result {
	if len(aux) != 0 {
		return Result{Status: ring.StatusInvalid}
	}
	idx, ok := levelIndex(c, param)
	if !ok {
		return Result{Status: ring.StatusInvalid}
	}
	if c == codecZstd && len(src) == 0 {
		// The library writes no content size for an empty frame.
		if len(dst) < len(emptyZstdFrame) {
			return Result{Status: ring.StatusNoSpace}
		}
		return Result{N: copy(dst, emptyZstdFrame), Aux: xxhash.Sum64(nil), Status: ring.StatusOK}
	}
	wide := c == codecZstd && len(src) > zstdMaxWindow
	e := getEncoder(c, idx, wide)
	res := e.compress(src, dst)
	// Not deferred: an encoder that panicked is dropped, not reused.
	putEncoder(c, idx, wide, e)
	return res
}

func (e *encoder) compress(src, dst []byte) Result {
	e.out = sink{buf: dst[:len(dst):len(dst)]}
	if e.zstd != nil {
		// Known size: the frame header records it (for a single-block input
		// the library always does; for more it needs to be told).
		e.zstd.ResetContentSize(&e.out, int64(len(src)))
		e.xx.Reset()
	} else {
		e.w.Reset(&e.out)
	}
	var crc uint32
	for len(src) > 0 {
		n := copy(e.chunk, src)
		chunk := e.chunk[:n]
		src = src[n:]
		if e.zstd != nil {
			_, _ = e.xx.Write(chunk)
		} else {
			crc = crc32.Update(crc, crc32.IEEETable, chunk)
		}
		if _, err := e.w.Write(chunk); err != nil {
			return encodeFailed(err)
		}
	}
	if err := e.w.Close(); err != nil {
		return encodeFailed(err)
	}
	sum := uint64(crc)
	if e.zstd != nil {
		sum = e.xx.Sum64()
	}
	return Result{N: e.out.n, Aux: sum, Status: ring.StatusOK}
}

func encodeFailed(err error) Result {
	if errors.Is(err, errNoSpace) {
		return Result{Status: ring.StatusNoSpace}
	}
	// Our sink is the only thing that can fail; anything else is a defect.
	return Result{Status: ring.StatusDeviceError}
}
