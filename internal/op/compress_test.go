package op

import (
	"bytes"
	stdflate "compress/flate"
	stdgzip "compress/gzip"
	stdzlib "compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"

	"github.com/accelq/accelq/ring"
)

// ---- data shapes ----

var words = strings.Fields(`the of and to a in is it that was he for on are as with his they
at be this from have or by one had not but what all were when we there can an your which
their said if do will each about how up out them then she many some so these would other
into has more her two like him see time could no make than first been its who now people my
made over did down only way find use may water long little very after words called just where
most know get through back much before go good new write our used me man too any day same
right look think also around another came come work three word must because does part even
place well such here take why things help put years different away again off went old number
queue ring device engine buffer offload latency throughput completion submission register`)

// textData returns n bytes of deterministic English-like text: words drawn
// from a Zipf distribution, sentences, numbers and line breaks. It compresses
// about as well as prose or logs (zstd ratio about 3), unlike random data.
func textData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x7e47))
	z := rand.NewZipf(r, 1.2, 3, uint64(len(words)-1))
	b := make([]byte, 0, n+64)
	start := true
	for len(b) < n {
		w := words[z.Uint64()]
		if start {
			b = append(b, strings.ToUpper(w[:1])...)
			b = append(b, w[1:]...)
			start = false
		} else {
			b = append(b, w...)
		}
		switch x := r.IntN(100); {
		case x < 6:
			b = append(b, ". "...)
			start = true
		case x < 8:
			b = append(b, ".\n"...)
			start = true
		case x < 12:
			b = append(b, ", "...)
		case x < 14:
			b = fmt.Appendf(b, " %d ", r.IntN(100000))
		default:
			b = append(b, ' ')
		}
	}
	return b[:n]
}

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x12345))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:], w[:])
	}
	return b
}

type shape struct {
	name string
	data []byte
}

var shapes = sync.OnceValue(func() []shape {
	return []shape{
		{"empty", []byte{}},
		{"1byte", []byte{'x'}},
		{"zeros", make([]byte, 100<<10)},
		{"random", randomData(150<<10, 1)}, // several chunks and zstd blocks
		{"text", textData(100<<10, 2)},
		{"text1MiB", textData(1<<20, 3)},
	}
})

// ---- helpers ----

const (
	guardLen  = 64
	guardByte = 0xa5
)

// run executes o through the dispatch table with dst cut from a larger array
// (dst[:n:n]) and checks that nothing past dst was written, that N is within
// dst, and that the status is never a device error.
func run(t testing.TB, o ring.Opcode, param uint16, src []byte, dstLen int) (Result, []byte) {
	t.Helper()
	backing := make([]byte, dstLen+guardLen)
	for i := range backing {
		backing[i] = guardByte
	}
	dst := backing[:dstLen:dstLen]
	res := Run(o, param, nil, src, nil, dst)
	for i, b := range backing[dstLen:] {
		if b != guardByte {
			t.Fatalf("%v: byte %d past dst (len %d) overwritten", o, i, dstLen)
		}
	}
	if res.N < 0 || res.N > dstLen {
		t.Fatalf("%v: N = %d outside dst of %d bytes", o, res.N, dstLen)
	}
	if res.Status == ring.StatusDeviceError {
		t.Fatalf("%v: device error (a panic or library failure) on %d-byte input", o, len(src))
	}
	return res, dst[:res.N]
}

// checksum is what a CQE's Aux must hold for data under codec c.
func checksum(c codec, data []byte) uint64 {
	if c == codecZstd {
		return xxhash.Sum64(data)
	}
	return uint64(crc32.ChecksumIEEE(data))
}

// bound is a destination size every codec fits any input of n bytes into.
func bound(n int) int { return n + n/16 + 1024 }

// compressOK compresses data and fails unless it succeeds with the right Aux.
func compressOK(t testing.TB, c codec, level uint16, data []byte) []byte {
	t.Helper()
	res, out := run(t, compressOps[c], level, data, bound(len(data)))
	if res.Status != ring.StatusOK {
		t.Fatalf("%v level %d, %d bytes: status %v", c, level, len(data), res.Status)
	}
	if want := checksum(c, data); res.Aux != want {
		t.Fatalf("%v level %d: Aux %#x, want %#x", c, level, res.Aux, want)
	}
	return bytes.Clone(out)
}

// decompressOK decompresses stream into a dst of exactly len(want) bytes and
// checks output and Aux.
func decompressOK(t testing.TB, c codec, stream, want []byte) {
	t.Helper()
	res, out := run(t, decompressOps[c], 0, stream, len(want))
	if res.Status != ring.StatusOK {
		t.Fatalf("%v decompress of %d-byte stream: status %v, want ok", c, len(stream), res.Status)
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("%v decompress: got %d bytes, want %d (or contents differ)", c, len(out), len(want))
	}
	if w := checksum(c, want); res.Aux != w {
		t.Fatalf("%v decompress: Aux %#x, want %#x", c, res.Aux, w)
	}
}

// referenceDecode decodes with an implementation other than the one under
// test: the standard library for the deflate family, klauspost's DecodeAll
// (not the streaming path we use) for zstd.
func referenceDecode(c codec, stream []byte) ([]byte, error) {
	var r io.Reader
	switch c {
	case codecDeflate:
		r = stdflate.NewReader(bytes.NewReader(stream))
	case codecZlib:
		zr, err := stdzlib.NewReader(bytes.NewReader(stream))
		if err != nil {
			return nil, err
		}
		r = zr
	case codecGzip:
		gr, err := stdgzip.NewReader(bytes.NewReader(stream))
		if err != nil {
			return nil, err
		}
		r = gr
	case codecZstd:
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.DecodeAll(stream, nil)
	}
	return io.ReadAll(r)
}

func levelsFor(c codec) []uint16 {
	if c == codecZstd {
		return []uint16{0, 1, 3, 7, 19, 22} // all four encoder levels
	}
	return []uint16{0, 1, 5, 9}
}

// zstdFrame walks one zstd frame at the start of b and returns its header
// and length. It trusts b (our own output).
func zstdFrame(t testing.TB, b []byte) (zstd.Header, int) {
	t.Helper()
	var h zstd.Header
	if err := h.Decode(b); err != nil {
		t.Fatalf("zstd header: %v", err)
	}
	pos := h.HeaderSize
	for {
		if pos+3 > len(b) {
			t.Fatalf("zstd frame truncated at block header %d", pos)
		}
		bh := uint32(b[pos]) | uint32(b[pos+1])<<8 | uint32(b[pos+2])<<16
		pos += 3
		size := int(bh >> 3)
		switch (bh >> 1) & 3 {
		case 1: // RLE: one byte stands for size bytes
			size = 1
		case 3:
			t.Fatalf("reserved zstd block type")
		}
		pos += size
		if bh&1 != 0 {
			break
		}
	}
	if h.HasCheckSum {
		pos += 4
	}
	if pos > len(b) {
		t.Fatalf("zstd frame runs past the stream: %d > %d", pos, len(b))
	}
	return h, pos
}

// checkFormat checks the framing of one compressed stream of data.
func checkFormat(t testing.TB, c codec, stream, data []byte) {
	t.Helper()
	switch c {
	case codecZlib:
		if len(stream) < 6 || stream[0]&0x0f != 8 || (uint16(stream[0])<<8|uint16(stream[1]))%31 != 0 || stream[1]&0x20 != 0 {
			t.Fatalf("zlib: bad header % x", stream[:min(2, len(stream))])
		}
		if got := binary.BigEndian.Uint32(stream[len(stream)-4:]); got != adler32(data) {
			t.Fatalf("zlib: trailer %#x, want Adler-32 %#x", got, adler32(data))
		}
	case codecGzip:
		// Exactly one member: a single-member reader must consume it all.
		br := bytes.NewReader(stream)
		gr, err := stdgzip.NewReader(br)
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		gr.Multistream(false)
		if _, err := io.Copy(io.Discard, gr); err != nil {
			t.Fatalf("gzip: %v", err)
		}
		if br.Len() != 0 {
			t.Fatalf("gzip: %d bytes after the first member", br.Len())
		}
		if got := binary.LittleEndian.Uint32(stream[len(stream)-8:]); got != crc32.ChecksumIEEE(data) {
			t.Fatalf("gzip: CRC %#x in trailer", got)
		}
	case codecZstd:
		h, n := zstdFrame(t, stream)
		if n != len(stream) {
			t.Fatalf("zstd: one frame of %d bytes, then %d more", n, len(stream)-n)
		}
		if !h.HasCheckSum {
			t.Fatalf("zstd: frame without content checksum")
		}
		if !h.HasFCS || h.FrameContentSize != uint64(len(data)) {
			t.Fatalf("zstd: content size %v/%d, want %d", h.HasFCS, h.FrameContentSize, len(data))
		}
		if got := binary.LittleEndian.Uint32(stream[len(stream)-4:]); got != uint32(xxhash.Sum64(data)) {
			t.Fatalf("zstd: checksum %#x", got)
		}
	}
}

func adler32(b []byte) uint32 {
	s1, s2 := uint32(1), uint32(0)
	for _, x := range b {
		s1 = (s1 + uint32(x)) % 65521
		s2 = (s2 + s1) % 65521
	}
	return s2<<16 | s1
}

// ---- round trips and format ----

func TestCompressRoundTrip(t *testing.T) {
	for c := range numCodecs {
		for _, level := range levelsFor(c) {
			for _, s := range shapes() {
				if s.name == "text1MiB" && level != 0 && (testing.Short() || c != codecZstd || level != maxZstdLevel) {
					continue // the large input at the default level (and zstd's top)
				}
				t.Run(fmt.Sprintf("%v/%d/%s", c, level, s.name), func(t *testing.T) {
					stream := compressOK(t, c, level, s.data)
					checkFormat(t, c, stream, s.data)
					ref, err := referenceDecode(c, stream)
					if err != nil || !bytes.Equal(ref, s.data) {
						t.Fatalf("reference decoder: %v (%d bytes, want %d)", err, len(ref), len(s.data))
					}
					decompressOK(t, c, stream, s.data)
					// More room than needed is fine; one byte less is not.
					res, out := run(t, decompressOps[c], 0, stream, len(s.data)+100)
					if res.Status != ring.StatusOK || !bytes.Equal(out, s.data) || res.Aux != checksum(c, s.data) {
						t.Fatalf("into a larger dst: %v, %d bytes", res.Status, res.N)
					}
					if len(s.data) > 0 {
						if res, _ := run(t, decompressOps[c], 0, stream, len(s.data)-1); res.Status != ring.StatusNoSpace || res.N != 0 {
							t.Fatalf("into a dst one byte short: %v, N %d; want no space, 0", res.Status, res.N)
						}
					}
				})
			}
		}
	}
}

// Every level of every codec on one input: levels must be accepted and
// produce decodable output; higher levels should not do badly worse.
func TestCompressAllLevels(t *testing.T) {
	data := textData(16<<10, 4)
	for c := range numCodecs {
		top := uint16(maxDeflateLevel)
		if c == codecZstd {
			top = maxZstdLevel
		}
		sizes := map[uint16]int{}
		for level := uint16(0); level <= top; level++ {
			stream := compressOK(t, c, level, data)
			decompressOK(t, c, stream, data)
			sizes[level] = len(stream)
		}
		if sizes[top] > sizes[1] {
			t.Errorf("%v: level %d gives %d bytes, level 1 %d", c, top, sizes[top], sizes[1])
		}
		t.Logf("%v sizes by level: %v", c, sizes)
	}
}

func TestCompressInvalid(t *testing.T) {
	data := []byte("hello, hello, hello")
	for c := range numCodecs {
		for _, o := range []ring.Opcode{compressOps[c], decompressOps[c]} {
			if !Implemented(o) || NeedsKey(o) {
				t.Fatalf("%v: implemented %v, needs key %v", o, Implemented(o), NeedsKey(o))
			}
			if cl, ok := o.Class(); !ok || cl != ring.ClassCompression {
				t.Fatalf("%v: class %v", o, cl)
			}
			// Aux must be empty.
			dst := make([]byte, 100)
			if res := Run(o, 0, nil, data, []byte{0}, dst); res.Status != ring.StatusInvalid {
				t.Errorf("%v with aux: %v, want invalid", o, res.Status)
			}
		}
		bad := []uint16{maxDeflateLevel + 1, 100, 0xffff}
		if c == codecZstd {
			bad = []uint16{maxZstdLevel + 1, 100, 0xffff}
		}
		for _, level := range bad {
			if res, _ := run(t, compressOps[c], level, data, 100); res.Status != ring.StatusInvalid {
				t.Errorf("%v level %d: %v, want invalid", c, level, res.Status)
			}
		}
		// Decompression takes no parameter.
		stream := compressOK(t, c, 0, data)
		if res, _ := run(t, decompressOps[c], 1, stream, 100); res.Status != ring.StatusInvalid {
			t.Errorf("%v decompress with param 1: %v, want invalid", c, res.Status)
		}
	}
}

func TestCompressNoSpace(t *testing.T) {
	data := randomData(10<<10, 5)
	text := textData(10<<10, 6)
	levels := [numCodecs][]uint16{{1, 9}, {0, 9}, {1, 9}, {1, 3, 7, 19}}
	for c := range numCodecs {
		for _, level := range levels[c] {
			for _, n := range []int{0, 10, len(data)} {
				if res, _ := run(t, compressOps[c], level, data, n); res.Status != ring.StatusNoSpace || res.N != 0 || res.Aux != 0 {
					t.Fatalf("%v level %d, random into %d bytes: %+v, want no space", c, level, n, res)
				}
				// The pooled encoder that failed must work next time.
				stream := compressOK(t, c, level, text)
				decompressOK(t, c, stream, text)
			}
			// The exact size fits; one byte less does not.
			stream := compressOK(t, c, level, text)
			if res, out := run(t, compressOps[c], level, text, len(stream)); res.Status != ring.StatusOK || !bytes.Equal(out, stream) {
				t.Fatalf("%v level %d into exactly %d bytes: %v", c, level, len(stream), res.Status)
			}
			if res, _ := run(t, compressOps[c], level, text, len(stream)-1); res.Status != ring.StatusNoSpace {
				t.Fatalf("%v level %d into %d bytes: %v, want no space", c, level, len(stream)-1, res.Status)
			}
		}
	}
}

// Jobs run concurrently on pooled encoders and decoders (the simulated device
// has several engines); under -race this checks they share no state.
func TestCompressConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 12 {
				c := codec((g + i) % int(numCodecs))
				data := textData(1000+i*3000, uint64(g*100+i))
				level := levelsFor(c)[i%len(levelsFor(c))]
				// Run directly: t.Fatal (in run) is for the test goroutine.
				out := make([]byte, bound(len(data)))
				res := Run(compressOps[c], level, nil, data, nil, out)
				if res.Status != ring.StatusOK || res.Aux != checksum(c, data) {
					t.Errorf("%v level %d: %+v", c, level, res)
					return
				}
				got := make([]byte, len(data))
				res = Run(decompressOps[c], 0, nil, out[:res.N], nil, got)
				if res.Status != ring.StatusOK || !bytes.Equal(got, data) || res.Aux != checksum(c, data) {
					t.Errorf("%v level %d: decompress %+v", c, level, res)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// ---- decompression of unusual but valid input ----

// skippable returns a zstd skippable frame carrying payload.
func skippable(payload []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0x184d2a5b)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

func TestDecompressValidVariants(t *testing.T) {
	a, b := textData(3000, 7), textData(70000, 8)
	ab := append(bytes.Clone(a), b...)

	t.Run("gzip/multimember", func(t *testing.T) {
		s := append(compressOK(t, codecGzip, 1, a), compressOK(t, codecGzip, 9, b)...)
		decompressOK(t, codecGzip, s, ab)
		// An empty member between two others.
		s = append(compressOK(t, codecGzip, 1, a), append(compressOK(t, codecGzip, 0, nil), compressOK(t, codecGzip, 9, b)...)...)
		decompressOK(t, codecGzip, s, ab)
	})
	t.Run("gzip/header-fields", func(t *testing.T) {
		var buf bytes.Buffer
		w := stdgzip.NewWriter(&buf)
		w.Name, w.Comment, w.Extra = "file.txt", "a comment", []byte("extra field")
		w.Write(a)
		w.Close()
		decompressOK(t, codecGzip, buf.Bytes(), a)
		// FHCRC: the header CRC-16 after the fixed header.
		s := bytes.Clone(buf.Bytes())
		hdrEnd := 10 + 2 + len(w.Extra) + len(w.Name) + 1 + len(w.Comment) + 1
		s[3] |= 0x02
		crc := crc32.ChecksumIEEE(s[:hdrEnd])
		s = append(s[:hdrEnd], append(binary.LittleEndian.AppendUint16(nil, uint16(crc)), s[hdrEnd:]...)...)
		decompressOK(t, codecGzip, s, a)
		s[hdrEnd] ^= 1 // wrong header CRC
		if res, _ := run(t, ring.OpGzipDecompress, 0, s, len(a)); res.Status != ring.StatusBadData {
			t.Fatalf("bad FHCRC: %v, want corrupt data", res.Status)
		}
	})
	t.Run("zstd/frames", func(t *testing.T) {
		s := append(compressOK(t, codecZstd, 1, a), compressOK(t, codecZstd, 19, b)...)
		decompressOK(t, codecZstd, s, ab)
		// Skippable frames before, between and after.
		s = append(skippable([]byte("meta")), compressOK(t, codecZstd, 3, a)...)
		s = append(s, skippable(nil)...)
		s = append(s, compressOK(t, codecZstd, 3, b)...)
		s = append(s, skippable(make([]byte, 1000))...)
		decompressOK(t, codecZstd, s, ab)
		// Only a skippable frame: a valid stream with no content.
		decompressOK(t, codecZstd, skippable([]byte("x")), nil)
	})
	t.Run("zstd/no-checksum-no-size", func(t *testing.T) {
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(1))
		var buf bytes.Buffer
		enc.Reset(&buf) // streaming more than a block: no content size
		big := textData(300<<10, 19)
		enc.Write(big)
		enc.Close()
		var h zstd.Header
		if err := h.Decode(buf.Bytes()); err != nil || h.HasCheckSum || h.HasFCS {
			t.Fatalf("test stream: %v %+v", err, h)
		}
		decompressOK(t, codecZstd, buf.Bytes(), big)
	})
	t.Run("empty-output", func(t *testing.T) {
		for c := range numCodecs {
			s := compressOK(t, c, 0, nil)
			checkFormat(t, c, s, nil)
			decompressOK(t, c, s, nil)
			if res, _ := run(t, decompressOps[c], 0, s, 10); res.Status != ring.StatusOK || res.N != 0 || res.Aux != checksum(c, nil) {
				t.Fatalf("%v: empty stream into 10 bytes: %+v", c, res)
			}
		}
	})
}

// ---- malformed input ----

func TestDecompressBadInput(t *testing.T) {
	text := textData(5000, 9)
	for c := range numCodecs {
		stream := compressOK(t, c, 0, text)
		cases := map[string][]byte{
			"empty":          {},
			"garbage":        []byte("this is not a compressed stream at all"),
			"one-zero-byte":  {0},
			"trailing-byte":  append(bytes.Clone(stream), 0),
			"trailing-junk":  append(bytes.Clone(stream), "junk"...),
			"trailing-zeros": append(bytes.Clone(stream), make([]byte, 16)...),
			"other-format":   compressOK(t, (c+1)%numCodecs, 0, text),
		}
		if c == codecDeflate {
			// Nearly anything is the start of a raw deflate stream; these
			// particular ones are not valid streams.
			cases["other-format"] = compressOK(t, codecZstd, 0, text)
		}
		for name, in := range cases {
			if res, _ := run(t, decompressOps[c], 0, in, len(text)+100); res.Status != ring.StatusBadData {
				t.Errorf("%v %s: %v, want corrupt data", c, name, res.Status)
			}
		}
	}
	// A zlib stream that needs a preset dictionary we do not have.
	var buf bytes.Buffer
	w, _ := stdzlib.NewWriterLevelDict(&buf, 6, []byte("dictionary"))
	w.Write(text)
	w.Close()
	if res, _ := run(t, ring.OpZlibDecompress, 0, buf.Bytes(), len(text)); res.Status != ring.StatusBadData {
		t.Errorf("zlib with FDICT: %v, want corrupt data", res.Status)
	}
}

// A zstd frame asking for a window beyond the decoder's limit is refused
// before any memory is committed to it.
func TestZstdWindowLimit(t *testing.T) {
	for _, wd := range []byte{
		(30 - 10) << 3, // 1 GiB window
		(23-10)<<3 | 1, // just over 8 MiB
	} {
		frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x04, wd, 0x01, 0x00, 0x00, 0x99, 0xe9, 0xd8, 0x51}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		before := m.TotalAlloc
		if res, _ := run(t, ring.OpZstdDecompress, 0, frame, 1<<20); res.Status != ring.StatusBadData {
			t.Errorf("window descriptor %#x: %v, want corrupt data", wd, res.Status)
		}
		runtime.ReadMemStats(&m)
		if grew := m.TotalAlloc - before; grew > 16<<20 {
			t.Errorf("window descriptor %#x: allocated %d MiB", wd, grew>>20)
		}
	}
	// An 8 MiB window is accepted: an empty frame declaring one.
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, (23 - 10) << 3, 0x01, 0x00, 0x00}
	if res, _ := run(t, ring.OpZstdDecompress, 0, frame, 0); res.Status != ring.StatusOK {
		t.Errorf("8 MiB window: %v, want ok", res.Status)
	}
}

// trailerLen is how many bytes at the end of a stream are a checksum (and,
// for gzip, the size), by codec.
var trailerLen = [numCodecs]int{0, 4, 8, 4}

func TestDecompressCorrupt(t *testing.T) {
	text := textData(3<<10, 10)
	for c := range numCodecs {
		t.Run(c.String(), func(t *testing.T) {
			stream := compressOK(t, c, 0, text)
			flips := []byte{0x01, 0xff}
			if testing.Short() {
				flips = flips[1:]
			}
			for i := range stream {
				for _, flip := range flips {
					bad := bytes.Clone(stream)
					bad[i] ^= flip
					res, out := run(t, decompressOps[c], 0, bad, len(text))
					switch res.Status {
					case ring.StatusBadData, ring.StatusNoSpace:
						if res.N != 0 {
							t.Fatalf("byte %d ^ %#x: %v with N %d", i, flip, res.Status, res.N)
						}
					case ring.StatusOK:
						if res.Aux != checksum(c, out) {
							t.Fatalf("byte %d ^ %#x: ok but Aux does not match the output", i, flip)
						}
						// A checksummed format may only accept a change
						// that does not alter the content (gzip MTIME/OS,
						// a zstd window descriptor, unused padding bits).
						if c != codecDeflate && !bytes.Equal(out, text) {
							t.Fatalf("byte %d ^ %#x: ok with different content", i, flip)
						}
						if i >= len(stream)-trailerLen[c] {
							t.Fatalf("byte %d ^ %#x in the trailer accepted", i, flip)
						}
					default:
						t.Fatalf("byte %d ^ %#x: %v", i, flip, res.Status)
					}
				}
			}
		})
	}
}

func TestDecompressTruncated(t *testing.T) {
	small := textData(3<<10, 11)
	big := textData(512<<10, 12)
	r := rand.New(rand.NewPCG(13, 13))
	for c := range numCodecs {
		t.Run(c.String(), func(t *testing.T) {
			stream := compressOK(t, c, 0, small)
			for n := range len(stream) {
				if res, _ := run(t, decompressOps[c], 0, stream[:n], len(small)); res.Status != ring.StatusBadData {
					t.Fatalf("prefix %d of %d: %v, want corrupt data", n, len(stream), res.Status)
				}
			}
			stream = compressOK(t, c, 0, big)
			cuts := []int{1, 10, len(stream) / 2, len(stream) - 9, len(stream) - 5, len(stream) - 4, len(stream) - 1}
			for range 3 {
				cuts = append(cuts, r.IntN(len(stream)))
			}
			for _, n := range cuts {
				if res, _ := run(t, decompressOps[c], 0, stream[:n], len(big)); res.Status != ring.StatusBadData {
					t.Fatalf("prefix %d of %d: %v, want corrupt data", n, len(stream), res.Status)
				}
			}
		})
	}
}

// ---- decompression bombs ----

// deflateZeros returns a raw deflate stream of n zero bytes (n a multiple of
// 1 MiB, at least 2 MiB) without compressing n bytes: after a sync flush the
// stream is byte-aligned, and a segment that encodes 1 MiB of zeros after
// zeros decodes the same wherever zeros precede it, so it is repeated.
func deflateZeros(n int) []byte {
	const mib = 1 << 20
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, 9)
	zeros := make([]byte, mib)
	w.Write(zeros)
	w.Flush()
	first := buf.Len()
	w.Write(zeros)
	w.Flush()
	seg := bytes.Clone(buf.Bytes()[first:])
	out := bytes.Clone(buf.Bytes())
	for i := 2; i < n/mib; i++ {
		out = append(out, seg...)
	}
	// An empty final stored block ends the stream.
	return append(out, 0x01, 0x00, 0x00, 0xff, 0xff)
}

// zerosCRC is the CRC-32 of n zero bytes.
func zerosCRC(n int) uint32 {
	zeros := make([]byte, 1<<20)
	var crc uint32
	for ; n > 0; n -= len(zeros) {
		crc = crc32.Update(crc, crc32.IEEETable, zeros[:min(n, len(zeros))])
	}
	return crc
}

// zstdZeros returns one zstd frame of n zero bytes (n a multiple of 128 KiB)
// made of RLE blocks, the format's densest encoding: 4 bytes per 128 KiB.
func zstdZeros(n int, withSize bool) []byte {
	const block = 128 << 10
	b := []byte{0x28, 0xb5, 0x2f, 0xfd}
	if withSize {
		b = append(b, 2<<6|1<<2, (17-10)<<3) // 4-byte content size, checksum; 128 KiB window
		b = binary.LittleEndian.AppendUint32(b, uint32(n))
	} else {
		b = append(b, 1<<2, (17-10)<<3)
	}
	for i := n / block; i > 0; i-- {
		bh := uint32(block)<<3 | 1<<1 // RLE
		if i == 1 {
			bh |= 1 // last
		}
		b = append(b, byte(bh), byte(bh>>8), byte(bh>>16), 0x00)
	}
	zeros := make([]byte, 1<<20)
	d := xxhash.New()
	for left := n; left > 0; left -= len(zeros) {
		d.Write(zeros[:min(left, len(zeros))])
	}
	return binary.LittleEndian.AppendUint32(b, uint32(d.Sum64()))
}

// bomb returns a stream of n zero bytes in codec c.
func bomb(c codec, n int, withSize bool) []byte {
	switch c {
	case codecZlib:
		s := append([]byte{0x78, 0xda}, deflateZeros(n)...)
		return binary.BigEndian.AppendUint32(s, uint32(n%65521)<<16|1) // Adler-32 of zeros
	case codecGzip:
		s := append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}, deflateZeros(n)...)
		s = binary.LittleEndian.AppendUint32(s, zerosCRC(n))
		return binary.LittleEndian.AppendUint32(s, uint32(n))
	case codecZstd:
		return zstdZeros(n, withSize)
	}
	return deflateZeros(n)
}

func TestDecompressBomb(t *testing.T) {
	const (
		size  = 1 << 30 // what the stream expands to
		limit = 1 << 20 // dst
	)
	type tc struct {
		c        codec
		withSize bool
	}
	cases := []tc{{codecDeflate, false}, {codecZlib, false}, {codecGzip, false}, {codecZstd, false}, {codecZstd, true}}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%v/size-in-header=%v", tc.c, tc.withSize), func(t *testing.T) {
			// The construction is valid: a small one decodes in full, by
			// us and by the reference decoder. For zstd it is larger than
			// the decoder's window limit, which must not cap the output.
			small := 4 << 20
			if tc.c == codecZstd {
				small = 3 * zstdMaxWindow / 2
			}
			s := bomb(tc.c, small, tc.withSize)
			if ref, err := referenceDecode(tc.c, s); err != nil || len(ref) != small || bytes.ContainsFunc(ref, func(r rune) bool { return r != 0 }) {
				t.Fatalf("reference decoder on the %d-byte construction: %v, %d bytes", small, err, len(ref))
			}
			if res, _ := run(t, decompressOps[tc.c], 0, s, small); res.Status != ring.StatusOK || res.N != small || res.Aux != checksum(tc.c, make([]byte, small)) {
				t.Fatalf("%d MiB construction: %+v", small>>20, res)
			}

			stream := bomb(tc.c, size, tc.withSize)
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			res, out := run(t, decompressOps[tc.c], 0, stream, limit)
			runtime.ReadMemStats(&m1)
			if res.Status != ring.StatusNoSpace {
				t.Fatalf("%d-byte bomb into %d bytes: %v, want no space", len(stream), limit, res.Status)
			}
			if len(out) != 0 {
				t.Fatalf("N = %d on no space", len(out))
			}
			alloc := m1.TotalAlloc - m0.TotalAlloc
			inuse := int64(m1.HeapInuse) - int64(m0.HeapInuse)
			t.Logf("%d-byte stream of %d GiB: allocated %.1f MiB (dst included), heap in use %+.1f MiB",
				len(stream), size>>30, float64(alloc)/(1<<20), float64(inuse)/(1<<20))
			if alloc > 64<<20 || inuse > 64<<20 {
				t.Fatalf("decoding allocated %d MiB (heap in use %+d MiB); the output limit is 1 MiB", alloc>>20, inuse>>20)
			}
		})
	}
}

// ---- interoperability with the reference tools ----

// tool returns the path of a command-line tool, skipping the test if it is
// missing (failing when CI=true, where it must be installed).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// pipe runs a command with stdin and returns its stdout.
func pipe(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, stderr.String())
	}
	return out
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGzipInterop(t *testing.T) {
	gz := tool(t, "gzip")
	a, b := textData(150<<10, 14), textData(20<<10, 15)
	for _, level := range []uint16{0, 1, 6, 9} {
		if got := pipe(t, compressOK(t, codecGzip, level, a), gz, "-dc"); !bytes.Equal(got, a) {
			t.Fatalf("gzip -dc of our level %d output: %d bytes, want %d", level, len(got), len(a))
		}
	}
	// Empty input too.
	if got := pipe(t, compressOK(t, codecGzip, 0, nil), gz, "-dc"); len(got) != 0 {
		t.Fatalf("gzip -dc of our empty member: %d bytes", len(got))
	}
	fa, fb := writeFile(t, "a.txt", a), writeFile(t, "b.txt", b)
	decompressOK(t, codecGzip, pipe(t, nil, gz, "-9", "-c", fa), a)
	decompressOK(t, codecGzip, pipe(t, nil, gz, "-1", "-c", fa), a)
	decompressOK(t, codecGzip, pipe(t, a, gz, "-c"), a) // from stdin: no name
	two := append(pipe(t, nil, gz, "-c", fa), pipe(t, nil, gz, "-c", fb)...)
	decompressOK(t, codecGzip, two, append(bytes.Clone(a), b...))
}

func TestZstdInterop(t *testing.T) {
	zs := tool(t, "zstd")
	a, b := textData(300<<10, 16), textData(20<<10, 17)
	for _, level := range []uint16{0, 1, 3, 7, 19} {
		if got := pipe(t, compressOK(t, codecZstd, level, a), zs, "-q", "-dc"); !bytes.Equal(got, a) {
			t.Fatalf("zstd -dc of our level %d output: %d bytes, want %d", level, len(got), len(a))
		}
	}
	if got := pipe(t, compressOK(t, codecZstd, 0, nil), zs, "-q", "-dc"); len(got) != 0 {
		t.Fatalf("zstd -dc of our empty frame: %d bytes", len(got))
	}
	fa, fb := writeFile(t, "a.txt", a), writeFile(t, "b.txt", b)
	decompressOK(t, codecZstd, pipe(t, nil, zs, "-q", "-19", "-c", fa), a)
	decompressOK(t, codecZstd, pipe(t, nil, zs, "-q", "--no-check", "-c", fa), a)
	decompressOK(t, codecZstd, pipe(t, a, zs, "-q", "-c"), a) // from stdin: no content size
	decompressOK(t, codecZstd, pipe(t, nil, zs, "-q", "-c", fa, fb), append(bytes.Clone(a), b...))
	// The CLI's output must be rejected when the dst is one byte short.
	s := pipe(t, nil, zs, "-q", "-c", fa)
	if res, _ := run(t, ring.OpZstdDecompress, 0, s, len(a)-1); res.Status != ring.StatusNoSpace {
		t.Fatalf("zstd CLI stream into a short dst: %v, want no space", res.Status)
	}
}

const pyZlib = `import sys, zlib
mode, wbits = sys.argv[1], int(sys.argv[2])
data = sys.stdin.buffer.read()
if mode == "d":
    d = zlib.decompressobj(wbits)
    out = d.decompress(data) + d.flush()
    assert d.eof and not d.unused_data, "stream incomplete or trailing data"
else:
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    out = c.compress(data) + c.flush()
sys.stdout.buffer.write(out)
`

func TestZlibInterop(t *testing.T) {
	// The interpreter itself, not a launcher script (pyenv shims are slow).
	py := strings.TrimSpace(string(pipe(t, nil, tool(t, "python3"), "-c", "import sys; print(sys.executable)")))
	data := textData(100<<10, 18)
	for _, tc := range []struct {
		c     codec
		wbits string
	}{{codecZlib, "15"}, {codecDeflate, "-15"}, {codecGzip, "31"}} {
		for _, level := range []uint16{0, 1, 9} {
			if got := pipe(t, compressOK(t, tc.c, level, data), py, "-c", pyZlib, "d", tc.wbits); !bytes.Equal(got, data) {
				t.Fatalf("python zlib (wbits %s) of our %v level %d: %d bytes, want %d", tc.wbits, tc.c, level, len(got), len(data))
			}
		}
		decompressOK(t, tc.c, pipe(t, data, py, "-c", pyZlib, "c", tc.wbits), data)
	}
}

// ---- benchmarks ----

var benchSizes = []struct {
	name string
	n    int
}{{"4KiB", 4 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}

func benchLevels(c codec) []uint16 {
	if c == codecZstd {
		return []uint16{1, 3, 7, 19}
	}
	return []uint16{1, 6, 9}
}

func BenchmarkCompress(b *testing.B) {
	for c := range numCodecs {
		for _, level := range benchLevels(c) {
			for _, sz := range benchSizes {
				b.Run(fmt.Sprintf("%v/%d/%s", c, level, sz.name), func(b *testing.B) {
					data := textData(sz.n, 99)
					dst := make([]byte, bound(sz.n))
					b.SetBytes(int64(sz.n))
					b.ReportAllocs()
					var res Result
					for b.Loop() {
						res = Run(compressOps[c], level, nil, data, nil, dst)
					}
					if res.Status != ring.StatusOK {
						b.Fatal(res.Status)
					}
					b.ReportMetric(float64(sz.n)/float64(res.N), "ratio")
				})
			}
		}
	}
}

func BenchmarkDecompress(b *testing.B) {
	for c := range numCodecs {
		for _, sz := range benchSizes {
			b.Run(fmt.Sprintf("%v/%s", c, sz.name), func(b *testing.B) {
				data := textData(sz.n, 99)
				stream := compressOK(b, c, 0, data)
				dst := make([]byte, sz.n)
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				var res Result
				for b.Loop() {
					res = Run(decompressOps[c], 0, nil, stream, nil, dst)
				}
				if res.Status != ring.StatusOK || res.N != sz.n {
					b.Fatal(res.Status)
				}
				b.ReportMetric(float64(sz.n)/float64(len(stream)), "ratio")
			})
		}
	}
}
