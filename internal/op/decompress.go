package op

// Decompression streams into dst: the decoder keeps its own bounded window
// (32 KiB for deflate, at most zstdMaxWindow for zstd) and copies output into
// dst as it goes, so memory does not depend on how much a stream claims or
// produces. Reading stops when dst is full; one more byte is then requested to
// tell "the stream ends exactly here" (its trailer is verified on the way) from
// "the stream has more" (StatusNoSpace). Input is read through a bytes.Reader,
// byte by byte or copied into the decoder's private buffers, so each byte of
// Src is read once.

import (
	"bytes"
	"hash/crc32"
	"io"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"

	"github.com/accelq/accelq/ring"
)

// zstdMaxWindow bounds the window (history) a zstd frame may ask for, and so
// the decoder's memory. 8 MiB is what the format asks every decoder to
// support, and what the reference encoder uses at levels up to 19; frames
// wanting more (zstd --ultra -20..22 or --long on large inputs) are refused
// as StatusBadData.
const zstdMaxWindow = 8 << 20

// maxEmptyReads bounds consecutive reads that return neither data nor an
// error, so a misbehaving decoder cannot spin forever.
const maxEmptyReads = 16

// decoder is a pooled decompressor with its input reader.
type decoder struct {
	src   bytes.Reader
	r     io.Reader // the decompressing reader; nil until first used
	gz    *gzip.Reader
	zstd  *zstd.Decoder
	xx    xxhash.Digest
	probe [1]byte
}

var decoderPools [numCodecs]sync.Pool

func getDecoder(c codec) *decoder {
	if d, ok := decoderPools[c].Get().(*decoder); ok {
		return d
	}
	return new(decoder)
}

// putDecoder returns d to its pool. The decompressing reader reads only
// through d.src, so emptying it is all it takes to hold no client memory.
func putDecoder(c codec, d *decoder) {
	d.src.Reset(nil)
	decoderPools[c].Put(d)
}

// start points d at src and reads the stream header where the format has
// one. An error means the input is not a stream of this format.
func (d *decoder) start(c codec, src []byte) error {
	d.src.Reset(src)
	switch c {
	case codecDeflate:
		if d.r == nil {
			d.r = flate.NewReader(&d.src)
			return nil
		}
		return d.r.(flate.Resetter).Reset(&d.src, nil)
	case codecZlib:
		if d.r == nil {
			// zlib offers no way to make a reader without a valid header;
			// on error there is nothing to keep, and the next job retries.
			r, err := zlib.NewReader(&d.src)
			if err != nil {
				return err
			}
			d.r = r
			return nil
		}
		return d.r.(zlib.Resetter).Reset(&d.src, nil)
	case codecGzip:
		if d.gz == nil {
			d.gz = new(gzip.Reader)
			d.r = d.gz
		}
		if err := d.gz.Reset(&d.src); err != nil {
			return err
		}
		d.gz.Multistream(true)
		return nil
	case codecZstd:
		if d.zstd == nil {
			z, err := zstd.NewReader(nil,
				// Synchronous: no goroutines, one block in flight.
				zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxWindow(zstdMaxWindow),
				// For streams this bounds the window too (single-segment
				// frames use their content size as the window).
				zstd.WithDecoderMaxMemory(zstdMaxWindow),
				// Never decode a whole input into a side buffer.
				zstd.WithDecodeBuffersBelow(0))
			if err != nil {
				panic(err)
			}
			d.zstd = z
			d.r = z
		}
		d.xx.Reset()
		return d.zstd.Reset(&d.src)
	}
	panic("op: unknown codec")
}

// decompress runs a decompression opcode. See ring.OpDeflateDecompress.
func decompress(c codec, param uint16, src, aux, dst []byte) Result {
	if param != 0 || len(aux) != 0 {
		return Result{Status: ring.StatusInvalid}
	}
	if len(src) == 0 {
		return Result{Status: ring.StatusBadData}
	}
	d := getDecoder(c)
	res := d.decompress(c, src, dst[:len(dst):len(dst)])
	// Not deferred: a decoder that panicked is dropped, not reused.
	putDecoder(c, d)
	return res
}

func (d *decoder) decompress(c codec, src, dst []byte) Result {
	if err := d.start(c, src); err != nil {
		return Result{Status: ring.StatusBadData}
	}

	var crc uint32
	sum := func(p []byte) {
		if c == codecZstd {
			_, _ = d.xx.Write(p)
		} else {
			crc = crc32.Update(crc, crc32.IEEETable, p)
		}
	}
	n, empty := 0, 0
	var err error
	for n < len(dst) && err == nil {
		var m int
		m, err = d.r.Read(dst[n:])
		if m < 0 || m > len(dst)-n {
			return Result{Status: ring.StatusDeviceError}
		}
		sum(dst[n : n+m])
		n += m
		if m == 0 && err == nil {
			if empty++; empty > maxEmptyReads {
				err = io.ErrNoProgress
			}
		} else {
			empty = 0
		}
	}
	// dst is full: the stream must end here, trailer and all.
	for empty = 0; err == nil; {
		var m int
		m, err = d.r.Read(d.probe[:])
		if m > 0 {
			return Result{Status: ring.StatusNoSpace}
		}
		if empty++; err == nil && empty > maxEmptyReads {
			err = io.ErrNoProgress
		}
	}
	if err != io.EOF {
		return Result{Status: ring.StatusBadData}
	}
	// Raw deflate and zlib readers stop at the end of their stream; bytes
	// after it are garbage. (gzip and zstd readers look for a next member or
	// frame themselves and fail on garbage.)
	if (c == codecDeflate || c == codecZlib) && d.src.Len() != 0 {
		return Result{Status: ring.StatusBadData}
	}
	out := uint64(crc)
	if c == codecZstd {
		out = d.xx.Sum64()
	}
	return Result{N: n, Aux: out, Status: ring.StatusOK}
}
