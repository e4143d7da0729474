package userdrv

// Streaming compression: an io.WriteCloser that cuts its input into chunks,
// compresses them on the device in parallel and writes the results in order.
//
// # Stream format
//
// A stream is a sequence of independent members (gzip) or frames (zstd), one
// per chunk of input, which every standard decoder reads as one stream:
// `gzip -d`, `zstd -d`, Go's gzip.Reader (multistream by default) and zstd
// decoders all concatenate them. Each chunk is compressed without the history
// of the previous one, which costs a little ratio (about 0.1% at 1 MiB chunks)
// and buys parallel compression and parallel decompression.
//
// zstd: each frame is what OpZstdCompress writes: a frame header that records
// the content size, blocks, and a content checksum. A reader finds the end of a
// frame by walking the block headers, and the size to decompress into from the
// frame header, so nothing is added.
//
// gzip: a member's end cannot be found without inflating it, so each member
// carries its sizes in its header, in the manner of BGZF (which records the
// size of members of at most 64 KiB in a "BC" extra subfield). The device
// writes a plain member (RFC 1952) whose 10-byte header is
//
//	1f 8b 08 FLG MTIME[4] XFL OS        (FLG 0, MTIME 0, OS 255 from the device)
//
// and the writer sets FLG.FEXTRA (0x04) and inserts, after those 10 bytes, an
// extra field of 14 bytes:
//
//	XLEN    2 bytes  12, little-endian: the length of the subfields
//	SI1 SI2 2 bytes  'A' 'Q' (0x41 0x51): the accelq subfield
//	LEN     2 bytes  8, little-endian
//	CSIZE   4 bytes  the member's total size in bytes, this header included,
//	                 little-endian
//	USIZE   4 bytes  the member's uncompressed size, little-endian (the same
//	                 as the trailer's ISIZE, but known before inflating)
//
// The rest of the member (the deflate data and the CRC32/ISIZE trailer) is the
// device's, unchanged. Decoders that do not know the subfield skip it, as
// RFC 1952 requires. A reader that knows it reads CSIZE bytes and decompresses
// them into USIZE bytes without looking at the deflate data, so members can be
// decompressed in parallel. Reader also accepts BGZF's "BC" subfield (BSIZE =
// member size - 1; the uncompressed size from the trailer). Members without
// either are decompressed in software, in order.
//
// # Memory
//
// A Writer owns inflight+1 slots, each a registered source buffer of the chunk
// size and a destination of the format's worst case for a chunk (the chunk
// plus about 14% for gzip, 0.4% for zstd), allocated on first use and reused:
// at the defaults (1 MiB chunks, 8 in flight) at most 9 x 2.14 MiB = 19.3 MiB
// for gzip and 9 x 2.0 MiB for zstd, whatever the length of the stream.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/accelq/accelq/ring"
)

// Defaults of the stream options.
const (
	DefaultChunkSize = 1 << 20 // uncompressed bytes per gzip member or zstd frame
	DefaultInflight  = 8       // chunks compressed or decompressed at once
	DefaultMaxChunk  = 8 << 20 // largest member or frame a Reader hands to the device
	// MaxChunkSize bounds WithChunkSize and WithMaxChunk: sizes are 32-bit in
	// the gzip extra field, and registered buffers are memory.
	MaxChunkSize = 64 << 20
)

// gzip header bits (RFC 1952) and the accelq extra field.
const (
	gzID1, gzID2, gzCM = 0x1f, 0x8b, 8
	gzFText            = 0x01
	gzFHCRC            = 0x02
	gzFExtra           = 0x04
	gzFName            = 0x08
	gzFComment         = 0x10
	gzFReserved        = 0xe0
	gzHeaderLen        = 10
	gzTrailerLen       = 8
	aqSI1, aqSI2       = 'A', 'Q'
	aqLen              = 8
	aqExtraLen         = 2 + 4 + aqLen // XLEN, SI1 SI2 LEN, CSIZE USIZE: the bytes the writer inserts
)

// StreamOption configures a Writer or a Reader. Options that do not apply to
// one are ignored by it.
type StreamOption func(*streamConfig)

type streamConfig struct {
	chunk    int
	inflight int
	level    int
	maxChunk int
	ctx      context.Context
}

// WithChunkSize sets how many uncompressed bytes a Writer puts in each gzip
// member or zstd frame (default DefaultChunkSize, at most MaxChunkSize). Reader
// ignores it. Note that the device's zstd decoder accepts windows of at most
// 8 MiB, and a zstd frame's window is its content size: frames of larger chunks
// are read in software by Reader.
func WithChunkSize(n int) StreamOption { return func(c *streamConfig) { c.chunk = n } }

// WithInflight sets how many chunks a Writer or Reader keeps on the device at
// once (default DefaultInflight).
func WithInflight(n int) StreamOption { return func(c *streamConfig) { c.inflight = n } }

// WithStreamLevel sets a Writer's compression level: 1-9 for gzip, 1-22 for
// zstd, 0 or -1 for the device's default. Reader ignores it.
func WithStreamLevel(level int) StreamOption { return func(c *streamConfig) { c.level = level } }

// WithMaxChunk sets the largest uncompressed size of a member or frame that a
// Reader decompresses on the device (default DefaultMaxChunk, at most
// MaxChunkSize); larger ones are decompressed in software. It bounds the
// Reader's registered memory. Writer ignores it.
func WithMaxChunk(n int) StreamOption { return func(c *streamConfig) { c.maxChunk = n } }

// WithStreamContext makes a Writer or Reader stop waiting for the device when
// ctx ends; the call waiting returns ctx.Err() and the stream is unusable.
func WithStreamContext(ctx context.Context) StreamOption {
	return func(c *streamConfig) { c.ctx = ctx }
}

func newStreamConfig(opts []StreamOption) (streamConfig, error) {
	c := streamConfig{chunk: DefaultChunkSize, inflight: DefaultInflight, maxChunk: DefaultMaxChunk, ctx: context.Background()}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case c.chunk < 1 || c.chunk > MaxChunkSize:
		return c, fmt.Errorf("userdrv: stream: %w: chunk size %d, want 1 to %d", ErrInvalid, c.chunk, MaxChunkSize)
	case c.maxChunk < 1 || c.maxChunk > MaxChunkSize:
		return c, fmt.Errorf("userdrv: stream: %w: maximum chunk %d, want 1 to %d", ErrInvalid, c.maxChunk, MaxChunkSize)
	case c.inflight < 1 || c.inflight > 1024:
		return c, fmt.Errorf("userdrv: stream: %w: %d chunks in flight, want 1 to 1024", ErrInvalid, c.inflight)
	case c.ctx == nil:
		return c, fmt.Errorf("userdrv: stream: %w: nil context", ErrInvalid)
	}
	return c, nil
}

// gzipStreamBound is the largest gzip member the device may write for n bytes
// of input: zlib's conservative deflateBound (stored blocks or fixed codes,
// whichever an encoder falls back to) plus the gzip header and trailer.
func gzipStreamBound(n int) int {
	return n + (n+7)>>3 + (n+63)>>6 + 5 + gzHeaderLen + gzTrailerLen
}

// zstdStreamBound is the largest zstd frame for n bytes of content: the
// reference library's ZSTD_COMPRESSBOUND plus the largest frame header (18
// bytes) and the checksum.
func zstdStreamBound(n int) int {
	const block = 128 << 10
	b := n + n>>8 + 18 + 4
	if n < block {
		b += (block - n) >> 11
	}
	return b
}

// Writer compresses what is written to it on the device, in chunks compressed
// in parallel, and writes a standard gzip or zstd stream to the underlying
// writer in order: one gzip member, with the accelq "AQ" extra subfield giving
// its compressed and uncompressed sizes, or one zstd frame per chunk (the
// format is specified at the top of stream.go). It is not safe for concurrent use.
// Close must be called to write the last chunk; it does not close the
// underlying writer.
type Writer struct {
	q     *Queue
	w     io.Writer
	f     Format
	op    ring.Opcode
	level uint16
	cfg   streamConfig
	p     *Pipeline
	slots []wslot
	seq   uint64 // chunks submitted; the slot being filled is slots[seq%len]
	fill  int    // bytes in the slot being filled
	err   error  // sticky
	done  bool   // closed

	in, out int64 // uncompressed bytes accepted, compressed bytes written
	chunks  int64
	regs    int // registered bytes the writer holds
}

// wslot is a chunk's source and destination.
type wslot struct {
	job      Job
	src, dst *Buffer
	n        int // uncompressed bytes of the chunk in flight
}

// NewWriter returns a Writer compressing into f, FormatGzip or FormatZstd, on
// q. The queue's Fallback applies to every chunk (a device that does not
// compress f runs the chunks in software under FallbackAuto). A queue that
// neither waits nor falls back when its ring is full makes the writer retry
// until there is room.
func NewWriter(q *Queue, w io.Writer, f Format, opts ...StreamOption) (*Writer, error) {
	cfg, err := newStreamConfig(opts)
	if err != nil {
		return nil, err
	}
	zw := &Writer{q: q, w: w, f: f, cfg: cfg}
	switch f {
	case FormatGzip:
		zw.op = ring.OpGzipCompress
	case FormatZstd:
		zw.op = ring.OpZstdCompress
	default:
		return nil, fmt.Errorf("userdrv: NewWriter: %w: format %v cannot be written in independent chunks (gzip or zstd)", ErrInvalid, f)
	}
	maxLevel := 9
	if f == FormatZstd {
		maxLevel = 22
	}
	switch {
	case cfg.level == -1:
	case cfg.level < 0 || cfg.level > maxLevel:
		return nil, fmt.Errorf("userdrv: NewWriter: %w: %v level %d, want 1 to %d (0 for the default)", ErrInvalid, f, cfg.level, maxLevel)
	default:
		zw.level = uint16(cfg.level)
	}
	zw.p = NewPipeline(q, cfg.inflight)
	zw.slots = make([]wslot, cfg.inflight+1)
	return zw, nil
}

// dstSize is the destination a slot needs for a chunk of n bytes.
func (w *Writer) dstSize(n int) int {
	if w.f == FormatGzip {
		return aqExtraLen + gzipStreamBound(n)
	}
	return zstdStreamBound(n)
}

// slot returns the slot being filled, with its buffers.
func (w *Writer) slot() (*wslot, error) {
	s := &w.slots[w.seq%uint64(len(w.slots))]
	if s.src == nil {
		src, err := w.q.dev.Alloc(w.cfg.chunk)
		if err != nil {
			return nil, err
		}
		dst, err := w.q.dev.Alloc(w.dstSize(w.cfg.chunk))
		if err != nil {
			src.Free()
			return nil, err
		}
		s.src, s.dst = src, dst
		w.regs += src.Len() + dst.Len()
	}
	return s, nil
}

// Write compresses p. It returns before the compressed data is written; errors
// (the device's, the underlying writer's) are reported by a later call.
func (w *Writer) Write(p []byte) (int, error) {
	if err := w.usable(); err != nil {
		return 0, err
	}
	total := 0
	for len(p) > 0 {
		s, err := w.slot()
		if err != nil {
			return total, w.fail(err)
		}
		n := copy(s.src.b[w.fill:w.cfg.chunk], p)
		w.fill += n
		total += n
		p = p[n:]
		w.in += int64(n)
		if w.fill == w.cfg.chunk {
			if err := w.flushChunk(); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// ReadFrom compresses everything r gives until io.EOF, reading straight into
// registered memory (io.Copy uses it).
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if err := w.usable(); err != nil {
		return 0, err
	}
	var total int64
	for {
		s, err := w.slot()
		if err != nil {
			return total, w.fail(err)
		}
		n, rerr := r.Read(s.src.b[w.fill:w.cfg.chunk])
		if n < 0 || n > w.cfg.chunk-w.fill {
			return total, w.fail(fmt.Errorf("userdrv: Writer.ReadFrom: invalid read count %d", n))
		}
		w.fill += n
		total += int64(n)
		w.in += int64(n)
		if w.fill == w.cfg.chunk {
			if err := w.flushChunk(); err != nil {
				return total, err
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr // the reader's error does not spoil the stream
		}
	}
}

// Flush compresses what has been written so far, even less than a chunk, and
// waits until every chunk is written to the underlying writer.
func (w *Writer) Flush() error {
	if err := w.usable(); err != nil {
		return err
	}
	if w.fill > 0 {
		if err := w.flushChunk(); err != nil {
			return err
		}
	}
	return w.drain()
}

// Close compresses the rest, waits until everything is written to the
// underlying writer, and releases the writer's registered buffers. An empty
// stream is one empty member or frame, as gzip and zstd write it. Close does
// not close the underlying writer.
func (w *Writer) Close() error {
	if w.done {
		if w.err != nil && w.err != ErrClosed {
			return w.err
		}
		return nil
	}
	if w.err == nil {
		if w.fill > 0 || w.chunks == 0 {
			w.flushChunk()
		}
		if w.err == nil {
			w.drain()
		}
	}
	w.done = true
	w.release()
	if w.err != nil {
		return w.err
	}
	w.err = ErrClosed
	return nil
}

func (w *Writer) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return ErrClosed
	}
	return nil
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// release frees the buffers; those of chunks still in flight (after an error)
// go back to the pool when their jobs complete.
func (w *Writer) release() {
	for i := range w.slots {
		s := &w.slots[i]
		if s.src != nil {
			s.src.Free()
			s.dst.Free()
			s.src, s.dst = nil, nil
		}
	}
	w.regs = 0
}

// flushChunk submits the slot being filled, first writing out the oldest chunk
// if the pipeline is full, so that the next slot is free.
func (w *Writer) flushChunk() error {
	s, err := w.slot()
	if err != nil {
		return w.fail(err)
	}
	if w.p.Len() == w.p.Cap() {
		if err := w.emitOldest(); err != nil {
			return err
		}
	}
	s.n = w.fill
	j := &s.job
	j.Op, j.Param, j.Src = w.op, w.level, Span{}
	if s.n > 0 {
		j.Src = Span{Buf: s.src, Len: s.n}
	}
	off := 0
	if w.f == FormatGzip {
		off = aqExtraLen // room to insert the extra field in front of the member
	}
	j.Dst = Span{Buf: s.dst, Off: off, Len: w.dstSize(s.n) - off}
	if err := submitBusy(w.cfg.ctx, w.p, j); err != nil {
		return w.fail(fmt.Errorf("userdrv: %v writer: chunk %d: %w", w.f, w.chunks, err))
	}
	w.seq++
	w.chunks++
	w.fill = 0
	return nil
}

// submitBusy submits j to p, retrying while the queue's ring is full: that
// happens on a queue that neither waits nor falls back when full, if it holds
// fewer jobs than the stream keeps in flight or is shared with other
// submitters. The device drains the ring by itself, so waiting suffices.
func submitBusy(ctx context.Context, p *Pipeline, j *Job) error {
	for {
		err := p.Submit(ctx, j)
		if !errors.Is(err, ErrBusy) {
			return err
		}
		time.Sleep(20 * time.Microsecond)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// drain writes out every chunk in flight.
func (w *Writer) drain() error {
	for w.p.Len() > 0 {
		if err := w.emitOldest(); err != nil {
			return err
		}
	}
	return nil
}

// emitOldest waits for the oldest chunk and writes it to the underlying writer.
func (w *Writer) emitOldest() error {
	j, err := w.p.Next(w.cfg.ctx)
	if j == nil {
		return w.fail(err)
	}
	seq := w.seq - uint64(w.p.Len()) - 1 // the chunk j compressed
	s := &w.slots[seq%uint64(len(w.slots))]
	if err != nil {
		return w.fail(fmt.Errorf("userdrv: %v writer: chunk %d: %w", w.f, seq, err))
	}
	var out []byte
	if w.f == FormatGzip {
		out, err = finishGzipMember(s.dst.b, j.N, s.n, uint32(j.Sum))
	} else {
		out, err = checkZstdFrame(s.dst.b[:j.N], uint32(j.Sum))
	}
	if err != nil {
		return w.fail(fmt.Errorf("userdrv: %v writer: chunk %d: %w: %v", w.f, seq, ErrDevice, err))
	}
	n, err := w.w.Write(out)
	w.out += int64(n)
	if err == nil && n != len(out) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return w.fail(err)
	}
	return nil
}

// finishGzipMember turns the member the device wrote at buf[aqExtraLen:][:n]
// into a member with the accelq extra field starting at buf[0], after checking
// it against what the device reported: the trailer's CRC32 is the CQE's sum and
// its ISIZE the chunk's size. It returns the member.
func finishGzipMember(buf []byte, n, usize int, crc uint32) ([]byte, error) {
	m := buf[aqExtraLen : aqExtraLen+n]
	if n < gzHeaderLen+gzTrailerLen || m[0] != gzID1 || m[1] != gzID2 || m[2] != gzCM {
		return nil, errors.New("not a gzip member")
	}
	if m[3]&(gzFExtra|gzFHCRC|gzFReserved) != 0 {
		return nil, fmt.Errorf("gzip member with header flags %#x", m[3])
	}
	if binary.LittleEndian.Uint32(m[n-8:]) != crc || binary.LittleEndian.Uint32(m[n-4:]) != uint32(usize) {
		return nil, errors.New("gzip trailer disagrees with the completion")
	}
	size := n + aqExtraLen
	copy(buf[:gzHeaderLen], m[:gzHeaderLen]) // the regions do not overlap: aqExtraLen >= gzHeaderLen
	buf[3] |= gzFExtra
	x := buf[gzHeaderLen : gzHeaderLen+aqExtraLen]
	binary.LittleEndian.PutUint16(x[0:], aqExtraLen-2)
	x[2], x[3] = aqSI1, aqSI2
	binary.LittleEndian.PutUint16(x[4:], aqLen)
	binary.LittleEndian.PutUint32(x[6:], uint32(size))
	binary.LittleEndian.PutUint32(x[10:], uint32(usize))
	return buf[:size], nil
}

// checkZstdFrame checks a frame the device wrote: magic, and a content checksum
// equal to the low 32 bits of the CQE's xxhash64.
func checkZstdFrame(f []byte, sum uint32) ([]byte, error) {
	if len(f) < 9 || binary.LittleEndian.Uint32(f) != zstdMagic {
		return nil, errors.New("not a zstd frame")
	}
	if f[4]&zstdFChecksum != 0 && binary.LittleEndian.Uint32(f[len(f)-4:]) != sum {
		return nil, errors.New("zstd checksum disagrees with the completion")
	}
	return f, nil
}
