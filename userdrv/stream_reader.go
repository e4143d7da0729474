package userdrv

// Streaming decompression: an io.Reader that finds member or frame boundaries
// without decompressing, decompresses members and frames on the device in
// parallel, and returns their output in order.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/accelq/accelq/ring"
)

// zstd frame format (RFC 8878).
const (
	zstdMagic      = 0xfd2fb528
	zstdSkipMagic  = 0x184d2a50 // skippable frames: 0x184d2a50 to 0x184d2a5f
	zstdFChecksum  = 0x04       // frame header descriptor: content checksum
	zstdFSingle    = 0x20       // single segment: the window is the content size
	zstdFReserved  = 0x08
	zstdMaxBlock   = 128 << 10
	zstdMaxHeader  = 4 + 1 + 1 + 4 + 8
	zstdBlockRaw   = 0
	zstdBlockRLE   = 1
	zstdBlockComp  = 2
	zstdChecksumSz = 4
)

const (
	// deviceZstdMaxWindow is the largest window the device's zstd decoder
	// accepts (internal/op: the size every decoder must support); frames asking
	// for more are decompressed in software.
	deviceZstdMaxWindow = 8 << 20
	// softZstdMaxWindow bounds the window, and so the memory, of software zstd
	// decompression: the zstd tool's own default limit.
	softZstdMaxWindow = 128 << 20
	// readerBufSize is the input buffer: it holds a gzip header with the
	// largest extra field.
	readerBufSize = 128 << 10
	// softChunk is how much software decompression produces per step.
	softChunk = 256 << 10
)

// Reader decompresses a gzip or zstd stream, in parallel on the device where it
// can find the boundaries cheaply, and in software where it cannot, returning
// the output in order. It is not safe for concurrent use.
//
// gzip: members with the accelq "AQ" extra subfield (as Writer makes them; see
// the stream format in stream.go) or BGZF's "BC" subfield carry their size and
// go to the device, up to WithInflight at a time. At the first member without
// either, the rest of the stream is decompressed in software (any member may
// be followed by anything, and finding its end means inflating it). A member
// larger than WithMaxChunk is decompressed in software, alone.
//
// zstd: each frame's end is found by walking its block headers, and its
// content size, from the frame header, is what the device decompresses into. A
// frame without a content size, larger than WithMaxChunk, with a window larger
// than the device's decoder takes (8 MiB) or with a dictionary is decompressed
// in software, alone, and the frames after it go to the device again.
// Skippable frames are skipped.
//
// Corrupt data, including a truncated stream, yields an error matching
// ErrBadData (and, from the device, a *JobError); an error of the underlying
// reader is returned as it is. Errors are sticky.
//
// Memory: inflight+1 slots, each a registered source of the largest
// compressed member or frame seen and a destination of the largest
// uncompressed one (at most WithMaxChunk), allocated as needed and reused; in
// software, the decoder's window (32 KiB for gzip, at most 128 MiB for zstd)
// and a 256 KiB buffer.
type Reader struct {
	q     *Queue
	f     Format
	op    ring.Opcode
	cfg   streamConfig
	cr    countingReader
	br    *bufio.Reader
	p     *Pipeline
	slots []rslot
	seq   uint64 // jobs submitted; the next uses slots[seq%len]

	out []byte // output not yet returned

	// Software decompression, in order after the jobs in the pipeline.
	swPending, sw io.Reader
	swStart       int64        // input offset where it started
	swCheck       func() error // called at its io.EOF
	swRest        bool         // it decompresses the rest of the stream
	swErr         error        // error after the data of the last step
	swEmpty       int
	walker        zstdWalker
	exact         exactReader
	gz            *gzip.Reader
	zs            *zstd.Decoder
	scratch       []byte

	pend error // a parse error, returned after the output before it
	eof  bool  // the input is consumed
	err  error // sticky

	deviceChunks, softSegments int64
	regs                       int // registered bytes held
}

// rslot is one member or frame on the device.
type rslot struct {
	job      Job
	src, dst *Buffer
	usize    int
	off      int64  // input offset of the member or frame
	sum      uint32 // its checksum, from the stream
	hasSum   bool
}

// NewReader returns a Reader decompressing f, FormatGzip or FormatZstd, from r
// on q. The queue's Fallback applies to the device jobs (under FallbackAuto,
// a device that does not decompress f runs them in software, one at a time).
func NewReader(q *Queue, r io.Reader, f Format, opts ...StreamOption) (*Reader, error) {
	cfg, err := newStreamConfig(opts)
	if err != nil {
		return nil, err
	}
	zr := &Reader{q: q, f: f, cfg: cfg}
	switch f {
	case FormatGzip:
		zr.op = ring.OpGzipDecompress
	case FormatZstd:
		zr.op = ring.OpZstdDecompress
	default:
		return nil, fmt.Errorf("userdrv: NewReader: %w: format %v (gzip or zstd)", ErrInvalid, f)
	}
	zr.cr.r = r
	zr.br = bufio.NewReaderSize(&zr.cr, readerBufSize)
	zr.p = NewPipeline(q, cfg.inflight)
	zr.slots = make([]rslot, cfg.inflight+1)
	return zr, nil
}

// countingReader counts what the input gave and keeps its error.
type countingReader struct {
	r   io.Reader
	n   int64
	err error // the first error other than io.EOF
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// offset is the input offset of the next byte the parser reads.
func (r *Reader) offset() int64 { return r.cr.n - int64(r.br.Buffered()) }

// Read reads decompressed data.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, r.err
	}
	for len(r.out) == 0 {
		if err := r.advance(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// WriteTo writes the decompressed data to w straight from registered memory
// (io.Copy uses it).
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		for len(r.out) == 0 {
			if err := r.advance(); err == io.EOF {
				return total, nil
			} else if err != nil {
				return total, err
			}
		}
		n, err := w.Write(r.out)
		total += int64(n)
		r.out = r.out[n:]
		if err == nil && len(r.out) > 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			return total, err
		}
	}
}

// Close releases the Reader's buffers and decoders; it does not close the
// underlying reader. Members or frames still on the device release their
// buffers when they complete.
func (r *Reader) Close() error {
	if r.err == nil || r.err == io.EOF {
		r.err = ErrClosed
	}
	r.out = nil
	r.sw, r.swPending = nil, nil
	for i := range r.slots {
		s := &r.slots[i]
		if s.src != nil {
			s.src.Free()
			s.src = nil
		}
		if s.dst != nil {
			s.dst.Free()
			s.dst = nil
		}
	}
	r.regs = 0
	if r.zs != nil {
		r.zs.Close()
		r.zs = nil
	}
	return nil
}

func (r *Reader) fail(err error) error {
	if r.err == nil {
		r.err = err
	}
	return r.err
}

// badData is a corrupt stream found by the parser.
func (r *Reader) badData(off int64, format string, args ...any) error {
	return fmt.Errorf("userdrv: %v stream at offset %d: %w: %s", r.f, off, ErrBadData, fmt.Sprintf(format, args...))
}

// truncated is the input ending inside a member or frame, or the input's error.
func (r *Reader) truncated(off int64, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("userdrv: %v stream at offset %d: %w: truncated: %w", r.f, off, ErrBadData, io.ErrUnexpectedEOF)
	}
	return err
}

// advance makes r.out non-empty or returns an error (io.EOF at the end).
func (r *Reader) advance() error {
	if r.err != nil {
		return r.err
	}
	if r.swErr != nil {
		return r.fail(r.swErr)
	}
	r.fill()
	if r.p.Len() > 0 {
		j, err := r.p.Next(r.cfg.ctx)
		if j == nil {
			return r.fail(err)
		}
		s := &r.slots[(r.seq-uint64(r.p.Len())-1)%uint64(len(r.slots))]
		if err := r.checkJob(s, j, err); err != nil {
			return r.fail(err)
		}
		r.deviceChunks++
		if j.N > 0 {
			r.out = s.dst.b[:j.N]
		}
		return nil
	}
	if r.swPending != nil {
		r.sw, r.swPending = r.swPending, nil
		r.swEmpty = 0
		r.softSegments++
	}
	if r.sw != nil {
		if r.scratch == nil {
			r.scratch = make([]byte, softChunk)
		}
		n, err := r.sw.Read(r.scratch)
		r.out = r.scratch[:n]
		if n == 0 && err == nil {
			if r.swEmpty++; r.swEmpty > 100 {
				err = io.ErrNoProgress
			}
		} else {
			r.swEmpty = 0
		}
		if err == io.EOF {
			r.sw = nil
			if r.swCheck != nil {
				err = r.swCheck()
			} else {
				err = nil
			}
			r.swCheck = nil
			if r.swRest {
				r.eof = true
			}
		}
		if err != nil {
			r.sw = nil
			r.swErr = r.softError(err)
			if n == 0 {
				return r.fail(r.swErr)
			}
		}
		return nil
	}
	if r.pend != nil {
		return r.fail(r.pend)
	}
	if r.eof {
		return r.fail(io.EOF)
	}
	return nil // fill made progress (a skippable frame)
}

// softError turns a software decoder's error into the stream's: the input's
// own error if it failed, else corrupt data.
func (r *Reader) softError(err error) error {
	switch {
	case r.cr.err != nil:
		return r.cr.err
	case r.walker.err != nil:
		return r.walker.err
	case errors.Is(err, ErrBadData):
		return err
	}
	return fmt.Errorf("userdrv: %v stream at offset %d (software): %w: %w", r.f, r.swStart, ErrBadData, err)
}

// checkJob checks a completed member or frame.
func (r *Reader) checkJob(s *rslot, j *Job, err error) error {
	what := "member"
	if r.f == FormatZstd {
		what = "frame"
	}
	if err != nil {
		if errors.Is(err, ErrNoSpace) {
			return fmt.Errorf("userdrv: %v %s at offset %d: %w: more data than the %d bytes its header declares: %w", r.f, what, s.off, ErrBadData, s.usize, err)
		}
		return fmt.Errorf("userdrv: %v %s at offset %d: %w", r.f, what, s.off, err)
	}
	if j.N != s.usize {
		return fmt.Errorf("userdrv: %v %s at offset %d: %w: %d bytes, its header declares %d", r.f, what, s.off, ErrBadData, j.N, s.usize)
	}
	if s.hasSum && uint32(j.Sum) != s.sum {
		return fmt.Errorf("userdrv: %v %s at offset %d: %w: the completion's checksum %#x disagrees with the stream's %#x", r.f, what, s.off, ErrDevice, uint32(j.Sum), s.sum)
	}
	return nil
}

// fill parses members or frames and submits them until the pipeline is full,
// software decompression is next, the input ends or is corrupt.
func (r *Reader) fill() {
	for r.sw == nil && r.swPending == nil && r.pend == nil && !r.eof && r.p.Len() < r.p.Cap() {
		var err error
		if r.f == FormatGzip {
			err = r.parseGzip()
		} else {
			err = r.parseZstd()
		}
		if err != nil {
			r.pend = err
		}
	}
}

// slot returns the next slot with a source of at least src bytes and a
// destination of at least dst.
func (r *Reader) slot(src, dst int) (*rslot, error) {
	s := &r.slots[r.seq%uint64(len(r.slots))]
	var err error
	if s.src, err = r.grow(s.src, src); err != nil {
		return nil, err
	}
	if s.dst, err = r.grow(s.dst, dst); err != nil {
		return nil, err
	}
	return s, nil
}

// grow returns b if it holds n bytes, else a new buffer that does, rounded up to
// 64 KiB so that sizes varying a little do not each allocate.
func (r *Reader) grow(b *Buffer, n int) (*Buffer, error) {
	if n == 0 || (b != nil && b.Len() >= n) {
		return b, nil
	}
	if b != nil {
		r.regs -= b.Len()
		b.Free()
	}
	b, err := r.q.dev.Alloc((n + 0xffff) &^ 0xffff)
	if err != nil {
		return nil, err
	}
	r.regs += b.Len()
	return b, nil
}

// submit sends the member or frame in s.src[:n] to the device.
func (r *Reader) submit(s *rslot, n, usize int, off int64) error {
	j := &s.job
	j.Op, j.Src, j.Dst = r.op, Span{Buf: s.src, Len: n}, Span{}
	if usize > 0 {
		j.Dst = Span{Buf: s.dst, Len: usize}
	}
	s.usize, s.off = usize, off
	if err := submitBusy(r.cfg.ctx, r.p, j); err != nil {
		return fmt.Errorf("userdrv: %v stream at offset %d: %w", r.f, off, err)
	}
	r.seq++
	return nil
}

// peek returns the next n bytes of input; at a clean end of input (nothing
// left and want is 0 bytes into a unit) it returns io.EOF.
func (r *Reader) peek(n int, off int64) ([]byte, error) {
	b, err := r.br.Peek(n)
	if err != nil {
		return nil, r.truncated(off, err)
	}
	return b, nil
}

// atEnd reports whether the input is exhausted, or returns its error.
func (r *Reader) atEnd() (bool, error) {
	_, err := r.br.Peek(1)
	if err == io.EOF {
		return true, nil
	}
	return false, err
}

// parseGzip takes the next member.
func (r *Reader) parseGzip() error {
	off := r.offset()
	if end, err := r.atEnd(); end || err != nil {
		r.eof = end
		return err
	}
	h, err := r.peek(gzHeaderLen, off)
	if err != nil {
		return err
	}
	if h[0] != gzID1 || h[1] != gzID2 || h[2] != gzCM {
		return r.badData(off, "not a gzip member")
	}
	if h[3]&gzFReserved != 0 {
		return r.badData(off, "reserved header flags %#x", h[3])
	}
	csize, usize, hlen := -1, -1, gzHeaderLen
	if h[3]&gzFExtra != 0 {
		x, err := r.peek(gzHeaderLen+2, off)
		if err != nil {
			return err
		}
		xlen := int(binary.LittleEndian.Uint16(x[gzHeaderLen:]))
		hlen += 2 + xlen
		if x, err = r.peek(hlen, off); err != nil {
			return err
		}
		for sub := x[gzHeaderLen+2:]; len(sub) >= 4; {
			n := int(binary.LittleEndian.Uint16(sub[2:]))
			if n > len(sub)-4 {
				break // malformed: the software decoder will say so
			}
			d := sub[4 : 4+n]
			switch {
			case sub[0] == aqSI1 && sub[1] == aqSI2 && n == aqLen:
				csize = int(binary.LittleEndian.Uint32(d))
				usize = int(binary.LittleEndian.Uint32(d[4:]))
			case sub[0] == 'B' && sub[1] == 'C' && n == 2 && csize < 0:
				csize = int(binary.LittleEndian.Uint16(d)) + 1
			}
			sub = sub[4+n:]
		}
	}
	if csize < 0 {
		// No size: inflating is the only way to find the end. The rest of the
		// stream is decompressed in software.
		if err := r.softGzip(r.br, true, off); err != nil {
			return err
		}
		r.swRest = true
		return nil
	}
	if csize < hlen+gzTrailerLen {
		return r.badData(off, "member size %d smaller than its %d-byte header and trailer", csize, hlen)
	}
	if usize > r.cfg.maxChunk || csize > aqExtraLen+gzipStreamBound(r.cfg.maxChunk)+hlen {
		// Too large for the device: this member alone in software.
		r.exact = exactReader{r: r.br, n: int64(csize)}
		return r.softMember(&r.exact, off)
	}
	s, err := r.slot(csize, max(usize, 0))
	if err != nil {
		return err
	}
	if n, err := io.ReadFull(r.br, s.src.b[:csize]); err != nil {
		return r.truncated(off+int64(n), err)
	}
	m := s.src.b[:csize]
	isize := int(binary.LittleEndian.Uint32(m[csize-4:]))
	switch {
	case usize < 0: // BGZF: the size is in the trailer
		usize = isize
		if usize > r.cfg.maxChunk {
			r.exact = exactReader{r: bytes.NewReader(m), n: int64(csize)}
			return r.softMember(&r.exact, off)
		}
		if s, err = r.slot(csize, usize); err != nil {
			return err
		}
	case uint32(usize) != uint32(isize):
		return r.badData(off, "the AQ field's size %d disagrees with the trailer's %d", usize, isize)
	}
	s.sum, s.hasSum = binary.LittleEndian.Uint32(m[csize-8:]), true
	return r.submit(s, csize, usize, off)
}

// softGzip decompresses from src in software next: the rest of the stream
// (multi) or one member.
func (r *Reader) softGzip(src flateReader, multi bool, off int64) error {
	if r.gz == nil {
		r.gz = new(gzip.Reader)
	}
	if err := r.gz.Reset(src); err != nil {
		return r.softError(err)
	}
	r.gz.Multistream(multi)
	r.swPending, r.swStart = r.gz, off
	return nil
}

// softMember decompresses the one member of exactly r.exact.n bytes in software.
func (r *Reader) softMember(src *exactReader, off int64) error {
	r.swStart = off // for softGzip's errors
	if err := r.softGzip(src, false, off); err != nil {
		return err
	}
	r.swCheck = func() error {
		if src.n != 0 {
			return r.badData(off, "member ends %d bytes before the size its header declares", src.n)
		}
		return nil
	}
	return nil
}

// flateReader is what gzip.Reader reads without buffering ahead of itself.
type flateReader interface {
	io.Reader
	io.ByteReader
}

// exactReader reads n bytes of r, then io.EOF; running out earlier is
// io.ErrUnexpectedEOF.
type exactReader struct {
	r flateReader
	n int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	e.n -= int64(n)
	if err == io.EOF && e.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (e *exactReader) ReadByte() (byte, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	b, err := e.r.ReadByte()
	if err == nil {
		e.n--
	} else if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

// parseZstd takes the next frame.
func (r *Reader) parseZstd() error {
	off := r.offset()
	if end, err := r.atEnd(); end || err != nil {
		r.eof = end
		return err
	}
	h, err := r.peek(4, off)
	if err != nil {
		return err
	}
	magic := binary.LittleEndian.Uint32(h)
	if magic&^0xf == zstdSkipMagic {
		if h, err = r.peek(8, off); err != nil {
			return err
		}
		size := int64(binary.LittleEndian.Uint32(h[4:]))
		if _, err := io.CopyN(io.Discard, r.br, 8+size); err != nil {
			return r.truncated(off, err)
		}
		return nil
	}
	if magic != zstdMagic {
		return r.badData(off, "not a zstd frame (magic %#08x)", magic)
	}
	if h, err = r.peek(5, off); err != nil {
		return err
	}
	fhd := h[4]
	if fhd&zstdFReserved != 0 {
		return r.badData(off, "reserved bit set in the frame header")
	}
	single := fhd&zstdFSingle != 0
	dictLen := [4]int{0, 1, 2, 4}[fhd&3]
	fcsLen := [4]int{0, 2, 4, 8}[fhd>>6]
	if fcsLen == 0 && single {
		fcsLen = 1
	}
	hsize := 5 + dictLen + fcsLen
	if !single {
		hsize++
	}
	if h, err = r.peek(hsize, off); err != nil {
		return err
	}
	pos := 5
	var window uint64
	if !single {
		wlog := uint(10 + h[5]>>3)
		window = 1<<wlog + (1<<wlog)/8*uint64(h[5]&7)
		pos++
	}
	var dictID uint64
	for i := range dictLen {
		dictID |= uint64(h[pos+i]) << (8 * i)
	}
	pos += dictLen
	var fcs uint64
	switch fcsLen {
	case 1:
		fcs = uint64(h[pos])
	case 2:
		fcs = uint64(binary.LittleEndian.Uint16(h[pos:])) + 256
	case 4:
		fcs = uint64(binary.LittleEndian.Uint32(h[pos:]))
	case 8:
		fcs = binary.LittleEndian.Uint64(h[pos:])
	}
	if single {
		window = fcs
	}
	w := &r.walker
	*w = zstdWalker{r: r.br, f: r.f, off: off, rem: hsize, checksum: fhd&zstdFChecksum != 0, next: zwBlock}
	if fcsLen == 0 || fcs > uint64(r.cfg.maxChunk) || window > deviceZstdMaxWindow || dictID != 0 {
		return r.softZstd(w, off)
	}
	usize := int(fcs)
	need := hsize + zstdStreamBound(usize) + 64
	s, err := r.slot(need, usize)
	if err != nil {
		return err
	}
	n, err := io.ReadFull(w, s.src.b[:need])
	switch {
	case err == io.ErrUnexpectedEOF: // the whole frame, shorter than the bound
	case err == nil && w.next == zwDone && w.rem == 0: // the whole frame, exactly the bound
	case err == nil:
		// Longer than any encoder makes it (empty blocks?): software, from
		// what was read.
		return r.softZstd(io.MultiReader(bytes.NewReader(s.src.b[:n]), w), off)
	default:
		return err
	}
	frame := s.src.b[:n]
	s.hasSum = w.checksum
	if w.checksum {
		s.sum = binary.LittleEndian.Uint32(frame[n-zstdChecksumSz:])
	}
	return r.submit(s, n, usize, off)
}

// softZstd decompresses the frame src gives in software next.
func (r *Reader) softZstd(src io.Reader, off int64) error {
	if r.zs == nil {
		zs, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1), // synchronous: no goroutines
			zstd.WithDecoderMaxWindow(softZstdMaxWindow),
			zstd.WithDecoderMaxMemory(softZstdMaxWindow),
			zstd.WithDecodeBuffersBelow(0))
		if err != nil {
			return err
		}
		r.zs = zs
	}
	r.swStart = off
	if err := r.zs.Reset(src); err != nil {
		return r.softError(err)
	}
	r.swPending = r.zs
	return nil
}

// zstdWalker reads exactly one zstd frame from r, finding its end from the
// block headers, then returns io.EOF. It checks only what it needs to find the
// end; the decoder checks the rest.
type zstdWalker struct {
	r        *bufio.Reader
	f        Format
	off      int64 // the frame's offset, for errors
	n        int64 // bytes of the frame read
	rem      int   // bytes to pass through before the next header
	hdr      [3]byte
	pend     []byte // block header bytes not yet returned
	checksum bool
	next     int
	err      error // the first error, for Reader.softError
}

const (
	zwBlock = iota
	zwChecksum
	zwDone
)

func (w *zstdWalker) Read(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	for {
		if len(w.pend) > 0 {
			n := copy(p, w.pend)
			w.pend = w.pend[n:]
			return n, nil
		}
		if w.rem > 0 {
			if len(p) > w.rem {
				p = p[:w.rem]
			}
			n, err := w.r.Read(p)
			w.rem -= n
			w.n += int64(n)
			if err == io.EOF && w.rem > 0 {
				err = w.fail("truncated", io.ErrUnexpectedEOF)
			} else if err == io.EOF {
				err = nil
			}
			return n, err
		}
		switch w.next {
		case zwDone:
			return 0, io.EOF
		case zwChecksum:
			w.rem, w.next = zstdChecksumSz, zwDone
		case zwBlock:
			if _, err := io.ReadFull(w.r, w.hdr[:]); err != nil {
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					err = w.fail("truncated", io.ErrUnexpectedEOF)
				}
				return 0, err
			}
			h := uint32(w.hdr[0]) | uint32(w.hdr[1])<<8 | uint32(w.hdr[2])<<16
			size := int(h >> 3)
			switch (h >> 1) & 3 {
			case zstdBlockRaw, zstdBlockComp:
				w.rem = size
			case zstdBlockRLE:
				w.rem = 1
			default:
				return 0, w.fail("reserved block type", nil)
			}
			if size > zstdMaxBlock {
				return 0, w.fail(fmt.Sprintf("block of %d bytes", size), nil)
			}
			w.n += 3
			w.pend = w.hdr[:]
			if h&1 != 0 { // last block
				w.next = zwDone
				if w.checksum {
					w.next = zwChecksum
				}
			}
		}
	}
}

func (w *zstdWalker) fail(what string, cause error) error {
	if cause != nil {
		w.err = fmt.Errorf("userdrv: %v frame at offset %d: %w: %s: %w", w.f, w.off, ErrBadData, what, cause)
	} else {
		w.err = fmt.Errorf("userdrv: %v frame at offset %d: %w: %s", w.f, w.off, ErrBadData, what)
	}
	return w.err
}
