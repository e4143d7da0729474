package op

import (
	"bytes"
	stdflate "compress/flate"
	stdgzip "compress/gzip"
	stdzlib "compress/zlib"
	"io"
	"testing"

	"github.com/accelq/accelq/ring"
)

// stdDecode decodes a deflate-family stream with the standard library and
// reports whether it is one complete stream with nothing after it.
func stdDecode(c codec, data []byte) ([]byte, bool) {
	br := bytes.NewReader(data)
	var r io.Reader
	switch c {
	case codecDeflate:
		r = stdflate.NewReader(br)
	case codecZlib:
		zr, err := stdzlib.NewReader(br)
		if err != nil {
			return nil, false
		}
		r = zr
	case codecGzip:
		gr, err := stdgzip.NewReader(br) // multistream, fails on trailing garbage
		if err != nil {
			return nil, false
		}
		r = gr
	default:
		panic("stdDecode: " + c.String())
	}
	out, err := io.ReadAll(io.LimitReader(r, 1<<20))
	return out, err == nil && br.Len() == 0 && len(out) < 1<<20
}

// FuzzDecompress feeds arbitrary input to a decompressor (sel picks the
// format) with an output limit of dstSize. It must never panic, report a
// device error, write past dst, or claim success with a wrong checksum; for
// the deflate family the standard library is an oracle in both directions.
func FuzzDecompress(f *testing.F) {
	text := textData(3000, 20)
	for c := range numCodecs {
		for _, level := range []uint16{1, 9} {
			var s []byte
			if res, out := run(f, compressOps[c], level, text, bound(len(text))); res.Status == ring.StatusOK {
				s = out
			}
			f.Add(s, byte(c), uint16(len(text)))
			f.Add(s, byte(c), uint16(len(text)-1))     // no space
			f.Add(s[:len(s)/2], byte(c), uint16(4096)) // truncated
		}
		f.Add([]byte{}, byte(c), uint16(100))
	}
	f.Fuzz(func(t *testing.T, data []byte, sel byte, dstSize uint16) {
		c := codec(sel % byte(numCodecs))
		res, out := run(t, decompressOps[c], 0, data, int(dstSize))
		switch res.Status {
		case ring.StatusOK:
			if res.Aux != checksum(c, out) {
				t.Fatalf("%v ok: Aux %#x, checksum of output %#x", c, res.Aux, checksum(c, out))
			}
		case ring.StatusBadData, ring.StatusNoSpace:
			if res.N != 0 || res.Aux != 0 {
				t.Fatalf("%v %v with N %d, Aux %#x", c, res.Status, res.N, res.Aux)
			}
		default:
			t.Fatalf("%v: status %v", c, res.Status)
		}
		if c == codecZstd {
			return
		}
		ref, ok := stdDecode(c, data)
		switch {
		case res.Status == ring.StatusOK && (!ok || !bytes.Equal(ref, out)):
			t.Fatalf("%v: we decoded %d bytes, the standard library %d (complete stream: %v)", c, len(out), len(ref), ok)
		case res.Status != ring.StatusOK && ok && len(ref) <= int(dstSize):
			t.Fatalf("%v: %v, but the standard library decodes %d bytes (dst %d)", c, res.Status, len(ref), dstSize)
		}
	})
}

// FuzzCompressRoundTrip compresses arbitrary data at any valid level (level
// is reduced modulo the codec's range) and decompresses it back.
func FuzzCompressRoundTrip(f *testing.F) {
	// Inputs stay small: every exec compresses, and minimising an
	// interesting input costs thousands of execs.
	f.Add([]byte(""), byte(0), byte(0))
	f.Add([]byte("a"), byte(1), byte(3))
	f.Add(textData(3000, 21), byte(9), byte(2))
	f.Add(textData(4000, 22), byte(22), byte(3))
	f.Add(randomData(1000, 23), byte(3), byte(3))
	f.Add(make([]byte, 5000), byte(6), byte(1))
	f.Fuzz(func(t *testing.T, data []byte, level, sel byte) {
		if len(data) > 16<<10 {
			data = data[:16<<10]
		}
		c := codec(sel % byte(numCodecs))
		param := uint16(level) % (maxDeflateLevel + 1)
		if c == codecZstd {
			param = uint16(level) % (maxZstdLevel + 1)
		}
		stream := compressOK(t, c, param, data)
		if ref, err := referenceDecode(c, stream); err != nil || !bytes.Equal(ref, data) {
			t.Fatalf("%v level %d: reference decoder: %v", c, param, err)
		}
		decompressOK(t, c, stream, data)
		if len(data) > 0 {
			if res, _ := run(t, decompressOps[c], 0, stream, len(data)-1); res.Status != ring.StatusNoSpace {
				t.Fatalf("%v level %d: one byte short: %v, want no space", c, param, res.Status)
			}
		}
	})
}
