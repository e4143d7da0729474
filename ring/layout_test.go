package ring

// Layout tests: the header, SQE and CQE byte layouts are accelq's ABI, so every
// offset is pinned to a literal number and every field is checked at its exact
// bytes, both as written by Init/Encode/the data path and as read by
// Decode/Counters. SQE and CQE Encode/Decode round trips are property-tested;
// Decode's rejections (short, reserved, unknown flags) are checked one by one.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestHeaderConstantsPinned(t *testing.T) {
	// A change here is an ABI break: bump Version and update docs/uapi.md.
	pins := []struct {
		name      string
		got, want int
	}{
		{"offMagic", offMagic, 0},
		{"offVersion", offVersion, 4},
		{"offHeaderSize", offHeaderSize, 6},
		{"offEntrySize", offEntrySize, 8},
		{"offEntries", offEntries, 12},
		{"offMask", offMask, 16},
		{"offReserved0", offReserved0, 20},
		{"offTail", offTail, 64},
		{"offProdReserved", offProdReserved, 68},
		{"offRefused", offRefused, 72},
		{"offProdCorrupt", offProdCorrupt, 80},
		{"offWakeups", offWakeups, 88},
		{"offHead", offHead, 128},
		{"offWakeMin", offWakeMin, 132},
		{"offConsCorrupt", offConsCorrupt, 136},
		{"offSleeps", offSleeps, 144},
		{"offFlags", offFlags, 192},
		{"HeaderSize", HeaderSize, 256},
		{"CacheLine", CacheLine, 64},
		{"MaxEntries", MaxEntries, 1 << 20},
		{"MaxEntrySize", MaxEntrySize, 256},
		{"Version", int(Version), 2},
		{"FlagNeedWakeup", int(FlagNeedWakeup), 1},
		{"SQESize", SQESize, 64},
		{"CQESize", CQESize, 32},
		{"MaxAuxLen", MaxAuxLen, 65535},
		{"SQEInPlace", int(SQEInPlace), 1},
		{"SQEFence", int(SQEFence), 2},
		{"CQEFallback", int(CQEFallback), 1},
		{"CQETimingOnly", int(CQETimingOnly), 2},
		{"CQEHostLimited", int(CQEHostLimited), 4},
	}
	for _, p := range pins {
		if p.got != p.want {
			t.Errorf("%s = %d, pinned at %d", p.name, p.got, p.want)
		}
	}
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], Magic)
	if string(m[:]) != "AQRG" {
		t.Errorf("magic bytes %q, want \"AQRG\"", m[:])
	}
	// The producer's, the consumer's and the shared words each own a cache line.
	for _, off := range []int{offTail, offHead, offFlags} {
		if off%CacheLine != 0 {
			t.Errorf("index word at %d is not at the start of a cache line", off)
		}
	}
	if Size(512, 24) != 256+512*24 || (Geometry{Entries: 4, EntrySize: 64}).Size() != 512 {
		t.Error("Size does not add the header to the entry array")
	}
}

// hexBytes parses a hex dump with spaces and | separators, for readable pins.
func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInitWritesExactHeader(t *testing.T) {
	g := Geometry{Entries: 512, EntrySize: 24}
	mem := Alloc(g)
	for i := range mem {
		mem[i] = 0xee // Init must zero the whole header, not assume fresh memory
	}
	if err := Init(mem, g); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, HeaderSize)
	copy(want, hexBytes(t, `
		41515247 | 0200 | 0001 | 18000000 | 00020000 | ff010000`))
	if !bytes.Equal(mem[:HeaderSize], want) {
		t.Fatalf("header after Init:\n%x\nwant\n%x", mem[:HeaderSize], want)
	}
	for i := HeaderSize; i < len(mem); i++ {
		if mem[i] != 0xee {
			t.Fatalf("Init wrote entry array byte %d", i)
		}
	}
}

func TestDataPathWritesHeaderWordsAtTheirOffsets(t *testing.T) {
	const start = 0x44332211
	p, c, mem := newPairAt(t, 8, 8, start)
	le := binary.LittleEndian
	expect := func(off int, want []byte) {
		t.Helper()
		if got := mem[off : off+len(want)]; !bytes.Equal(got, want) {
			t.Fatalf("bytes at %d are %x, want %x", off, got, want)
		}
	}
	expect(64, []byte{0x11, 0x22, 0x33, 0x44})
	expect(128, []byte{0x11, 0x22, 0x33, 0x44})

	if n, _ := p.Reserve(3); n != 3 {
		t.Fatal("reserve 3 in an empty ring")
	}
	p.Commit(3)
	expect(64, []byte{0x14, 0x22, 0x33, 0x44})
	if n, _ := c.Pop(make([]byte, 8)); n != 1 {
		t.Fatal("pop 1")
	}
	expect(128, []byte{0x12, 0x22, 0x33, 0x44})

	// 6 free, so asking for 0x0106 refuses 0x0100.
	if n, _ := p.Reserve(0x106); n != 6 {
		t.Fatalf("reserve granted %d, want 6", n)
	}
	p.Commit(0)
	expect(72, []byte{0x00, 0x01, 0, 0, 0, 0, 0, 0})

	if empty, err := c.Arm(); empty || err != nil {
		t.Fatalf("Arm with entries ready: empty=%v err=%v", empty, err)
	}
	expect(192, []byte{0, 0, 0, 0}) // Arm saw entries and disarmed
	if _, err := c.Pop(make([]byte, 8*8)); err != nil {
		t.Fatal(err)
	}
	if empty, err := c.Arm(); !empty || err != nil {
		t.Fatalf("Arm on an empty ring: empty=%v err=%v", empty, err)
	}
	expect(192, []byte{1, 0, 0, 0})
	expect(132, []byte{1, 0, 0, 0}) // Arm waits for one entry
	if woke, err := p.Wake(); !woke || err != nil {
		t.Fatalf("Wake with the flag set: %v %v", woke, err)
	}
	expect(192, []byte{0, 0, 0, 0})
	expect(88, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	if err := c.Sleep(0); err != nil { // empty, so it arms and sleeps for no time
		t.Fatal(err)
	}
	expect(144, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	expect(192, []byte{0, 0, 0, 0}) // Sleep disarms on the way out

	head := le.Uint32(mem[offHead:])
	setWord(mem, offHead, head+100)
	if _, err := p.Free(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Free with head past tail: %v", err)
	}
	setWord(mem, offHead, head)
	expect(80, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	tail := le.Uint32(mem[offTail:])
	setWord(mem, offTail, tail+100)
	if _, err := c.Available(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Available with tail far ahead: %v", err)
	}
	setWord(mem, offTail, tail)
	expect(136, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	// Nothing else in the header moved.
	for _, r := range [][2]int{{20, 64}, {68, 72}, {96, 128}, {152, 192}, {196, 256}} {
		for i := r[0]; i < r[1]; i++ {
			if mem[i] != 0 {
				t.Fatalf("header byte %d is %#x after the data path ran", i, mem[i])
			}
		}
	}
}

func TestCountersReadTheirOffsets(t *testing.T) {
	_, c, mem := newPair(t, 4, 8)
	for i, off := range []int{72, 80, 88, 136, 144} {
		binary.LittleEndian.PutUint64(mem[off:], 0x0101010101010101*uint64(i+1))
	}
	want := Counters{
		Refused:         0x0101010101010101,
		ProducerCorrupt: 0x0202020202020202,
		Wakeups:         0x0303030303030303,
		ConsumerCorrupt: 0x0404040404040404,
		Sleeps:          0x0505050505050505,
	}
	if got := c.Counters(); got != want {
		t.Fatalf("Counters() = %+v, want %+v", got, want)
	}
}

// pinnedSQE has a distinct value in every byte it can, so a field written one
// byte off, or with the wrong width or endianness, shows in the dump.
var pinnedSQE = SQE{
	Opcode:   0x10,
	Flags:    SQEInPlace | SQEFence,
	Param:    0x1312,
	Key:      0x17161514,
	UserData: 0x1f1e1d1c1b1a1918,
	Src:      BufRef{Region: 0x23222120, Len: 0x27262524, Off: 0x2f2e2d2c2b2a2928},
	Dst:      BufRef{Region: 0x33323130, Len: 0x37363534, Off: 0x3f3e3d3c3b3a3938},
	Aux:      BufRef{Region: 0x43424140, Len: 0x4544, Off: 0x4f4e4d4c4b4a4948},
}

const pinnedSQEHex = `
	10 | 03 | 1213 | 14151617 | 18191a1b1c1d1e1f
	20212223 | 24252627 | 28292a2b2c2d2e2f
	30313233 | 34353637 | 38393a3b3c3d3e3f
	40414243 | 4445 | 0000 | 48494a4b4c4d4e4f`

var pinnedCQE = CQE{
	UserData: 0x1716151413121110,
	Result:   0x1b1a1918,
	Status:   0x1d1c,
	Flags:    CQEFallback | CQETimingOnly | CQEHostLimited,
	Aux:      0x2726252423222120,
	DevErr:   0x2b2a2928,
}

const pinnedCQEHex = `
	1011121314151617 | 18191a1b | 1c1d | 0700
	2021222324252627 | 28292a2b | 00000000`

func TestSQELayoutPinned(t *testing.T) {
	want := hexBytes(t, pinnedSQEHex)
	b := bytes.Repeat([]byte{0xee}, SQESize+8)
	if err := pinnedSQE.Encode(b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:SQESize], want) {
		t.Fatalf("SQE encodes as\n%x\nwant\n%x", b[:SQESize], want)
	}
	if !bytes.Equal(b[SQESize:], bytes.Repeat([]byte{0xee}, 8)) {
		t.Fatal("Encode wrote past SQESize")
	}
	var s SQE
	if err := s.Decode(want); err != nil || s != pinnedSQE {
		t.Fatalf("Decode of the pinned bytes = %+v, %v", s, err)
	}
	// Field offsets, one by one, in case the dump comparison is ever loosened.
	for _, f := range []struct {
		name     string
		off, val int
	}{
		{"opcode", 0, 0x10}, {"flags", 1, 0x03}, {"param", 2, 0x12}, {"key", 4, 0x14},
		{"user data", 8, 0x18}, {"src region", 16, 0x20}, {"src len", 20, 0x24}, {"src off", 24, 0x28},
		{"dst region", 32, 0x30}, {"dst len", 36, 0x34}, {"dst off", 40, 0x38},
		{"aux region", 48, 0x40}, {"aux len", 52, 0x44}, {"aux off", 56, 0x48},
	} {
		if int(b[f.off]) != f.val {
			t.Errorf("SQE %s: byte %d is %#x, want %#x", f.name, f.off, b[f.off], f.val)
		}
	}
}

func TestCQELayoutPinned(t *testing.T) {
	want := hexBytes(t, pinnedCQEHex)
	b := bytes.Repeat([]byte{0xee}, CQESize+8)
	pinnedCQE.Encode(b)
	if !bytes.Equal(b[:CQESize], want) {
		t.Fatalf("CQE encodes as\n%x\nwant\n%x", b[:CQESize], want)
	}
	if !bytes.Equal(b[CQESize:], bytes.Repeat([]byte{0xee}, 8)) {
		t.Fatal("Encode wrote past CQESize")
	}
	var c CQE
	if err := c.Decode(want); err != nil || c != pinnedCQE {
		t.Fatalf("Decode of the pinned bytes = %+v, %v", c, err)
	}
}

func genBufRef(maxLen uint32) *rapid.Generator[BufRef] {
	return rapid.Custom(func(t *rapid.T) BufRef {
		return BufRef{
			Region: rapid.Uint32().Draw(t, "region"),
			Len:    rapid.Uint32Max(maxLen).Draw(t, "len"),
			Off:    rapid.Uint64().Draw(t, "off"),
		}
	})
}

var genSQE = rapid.Custom(func(t *rapid.T) SQE {
	return SQE{
		Opcode:   Opcode(rapid.Uint8().Draw(t, "opcode")),
		Flags:    SQEFlag(rapid.Uint8Max(uint8(sqeKnownFlags)).Draw(t, "flags")),
		Param:    rapid.Uint16().Draw(t, "param"),
		Key:      rapid.Uint32().Draw(t, "key"),
		UserData: rapid.Uint64().Draw(t, "user data"),
		Src:      genBufRef(math.MaxUint32).Draw(t, "src"),
		Dst:      genBufRef(math.MaxUint32).Draw(t, "dst"),
		Aux:      genBufRef(MaxAuxLen).Draw(t, "aux"),
	}
})

var genCQE = rapid.Custom(func(t *rapid.T) CQE {
	return CQE{
		UserData: rapid.Uint64().Draw(t, "user data"),
		Result:   rapid.Uint32().Draw(t, "result"),
		Status:   Status(rapid.Uint16().Draw(t, "status")),
		Flags:    CQEFlag(rapid.Uint16Max(uint16(cqeKnownFlag)).Draw(t, "flags")),
		Aux:      rapid.Uint64().Draw(t, "aux"),
		DevErr:   rapid.Uint32().Draw(t, "dev err"),
	}
})

func TestSQERoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSQE.Draw(t, "sqe")
		// Encode over garbage: every byte, reserved ones included, must be written.
		b := rapid.SliceOfN(rapid.Byte(), SQESize, SQESize).Draw(t, "garbage")
		if err := s.Encode(b); err != nil {
			t.Fatalf("Encode(%+v): %v", s, err)
		}
		var d SQE
		if err := d.Decode(b); err != nil {
			t.Fatalf("Decode(Encode(%+v)): %v", s, err)
		}
		if d != s {
			t.Fatalf("round trip: %+v became %+v", s, d)
		}
		b2 := make([]byte, SQESize)
		if err := d.Encode(b2); err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding differs: %x vs %x (%v)", b, b2, err)
		}
	})
}

func TestCQERoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genCQE.Draw(t, "cqe")
		b := rapid.SliceOfN(rapid.Byte(), CQESize, CQESize).Draw(t, "garbage")
		c.Encode(b)
		var d CQE
		if err := d.Decode(b); err != nil {
			t.Fatalf("Decode(Encode(%+v)): %v", c, err)
		}
		if d != c {
			t.Fatalf("round trip: %+v became %+v", c, d)
		}
		b2 := make([]byte, CQESize)
		d.Encode(b2)
		if !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding differs: %x vs %x", b, b2)
		}
	})
}

func TestSQEDecodeRejects(t *testing.T) {
	good := hexBytes(t, pinnedSQEHex)
	check := func(name string, b []byte) {
		t.Helper()
		var s SQE
		err := s.Decode(b)
		if !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: Decode error %v, want ErrBadEntry", name, err)
		}
		// The device completes a rejected entry with an error status, which
		// needs the submitter's user data.
		if s.UserData != pinnedSQE.UserData {
			t.Errorf("%s: UserData %#x after a rejected decode, want %#x", name, s.UserData, pinnedSQE.UserData)
		}
	}
	for _, i := range []int{54, 55} {
		for _, v := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(good)
			b[i] = v
			check("reserved byte", b)
		}
	}
	for bit := 0; bit < 8; bit++ {
		if SQEFlag(1<<bit)&sqeKnownFlags != 0 {
			continue
		}
		b := bytes.Clone(good)
		b[1] |= 1 << bit
		check("unknown flag", b)
	}
	for n := 0; n < SQESize; n++ {
		var s SQE
		if err := s.Decode(good[:n]); !errors.Is(err, ErrBadEntry) {
			t.Errorf("Decode of %d bytes: %v, want ErrBadEntry", n, err)
		}
	}
	// Longer input is fine: only the first SQESize bytes are the entry.
	var s SQE
	if err := s.Decode(append(bytes.Clone(good), 0xff, 0xff)); err != nil || s != pinnedSQE {
		t.Errorf("Decode of a longer buffer: %+v, %v", s, err)
	}
}

func TestCQEDecodeRejects(t *testing.T) {
	good := hexBytes(t, pinnedCQEHex)
	check := func(name string, b []byte) {
		t.Helper()
		var c CQE
		err := c.Decode(b)
		if !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: Decode error %v, want ErrBadEntry", name, err)
		}
		if c.UserData != pinnedCQE.UserData {
			t.Errorf("%s: UserData %#x after a rejected decode", name, c.UserData)
		}
	}
	for i := 28; i < 32; i++ {
		b := bytes.Clone(good)
		b[i] = 0x40
		check("reserved byte", b)
	}
	for bit := 0; bit < 16; bit++ {
		if CQEFlag(1<<bit)&cqeKnownFlag != 0 {
			continue
		}
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint16(b[14:], binary.LittleEndian.Uint16(b[14:])|1<<bit)
		check("unknown flag", b)
	}
	for n := 0; n < CQESize; n++ {
		var c CQE
		if err := c.Decode(good[:n]); !errors.Is(err, ErrBadEntry) {
			t.Errorf("Decode of %d bytes: %v, want ErrBadEntry", n, err)
		}
	}
}

func TestSQEEncodeRefusesLongAux(t *testing.T) {
	s := pinnedSQE
	s.Aux.Len = MaxAuxLen
	b := make([]byte, SQESize)
	if err := s.Encode(b); err != nil {
		t.Fatalf("Aux.Len = MaxAuxLen: %v", err)
	}
	var d SQE
	if err := d.Decode(b); err != nil || d.Aux.Len != MaxAuxLen {
		t.Fatalf("MaxAuxLen round trip: %d, %v", d.Aux.Len, err)
	}
	for _, n := range []uint32{MaxAuxLen + 1, 1 << 20, math.MaxUint32} {
		s.Aux.Len = n
		// A silent truncation to 16 bits would hand the device a different length.
		if err := s.Encode(b); !errors.Is(err, ErrBadEntry) {
			t.Errorf("Aux.Len %d: Encode error %v, want ErrBadEntry", n, err)
		}
	}
}

func TestStatusAndOpcodeValuesPinned(t *testing.T) {
	statuses := []Status{StatusOK, StatusAuthFailed, StatusInvalid, StatusBadAddress, StatusNotPermitted,
		StatusNoSpace, StatusDeviceError, StatusFlushed, StatusUnsupported, StatusBadData, StatusBusy}
	for i, s := range statuses {
		if int(s) != i {
			t.Errorf("status %q = %d, pinned at %d", s, s, i)
		}
		if strings.HasPrefix(s.String(), "status(") {
			t.Errorf("status %d has no name", s)
		}
	}
	if got := Status(200).String(); got != "status(200)" {
		t.Errorf("unknown status prints %q", got)
	}
	ops := map[string]Opcode{
		"nop": 0x00, "aes-gcm-seal": 0x01, "aes-gcm-open": 0x02, "chacha20-poly1305-seal": 0x03,
		"chacha20-poly1305-open": 0x04, "aes-xts-encrypt": 0x05, "aes-xts-decrypt": 0x06,
		"sha256": 0x07, "sha384": 0x08, "sha512": 0x09, "hmac-sha256": 0x0a, "hmac-sha512": 0x0b,
		"crc32c": 0x0c, "rsa-sign-pss": 0x20, "rsa-sign-pkcs1v15": 0x21, "rsa-verify-pss": 0x22,
		"rsa-verify-pkcs1v15": 0x23, "rsa-decrypt-oaep": 0x24, "ecdsa-sign": 0x25, "ecdsa-verify": 0x26,
		"ed25519-sign": 0x27, "ed25519-verify": 0x28, "x25519": 0x29, "ecdh": 0x2a,
		"deflate-compress": 0x40, "zlib-compress": 0x41, "gzip-compress": 0x42, "zstd-compress": 0x43,
		"deflate-decompress": 0x48, "zlib-decompress": 0x49, "gzip-decompress": 0x4a, "zstd-decompress": 0x4b,
	}
	if got := len(Opcodes()); got != len(ops) {
		t.Errorf("ABI v1 defines %d opcodes, pinned table has %d", got, len(ops))
	}
	for name, want := range ops {
		got, err := ParseOpcode(name)
		if err != nil || got != want {
			t.Errorf("ParseOpcode(%q) = %#x, %v; pinned at %#x", name, got, err, want)
		}
		if got.String() != name {
			t.Errorf("opcode %#x prints %q, want %q", got, got.String(), name)
		}
		class, ok := want.Class()
		wantClass := ClassNone
		switch {
		case want == OpNop:
		case want < 0x20:
			wantClass = ClassSymmetric
		case want < 0x40:
			wantClass = ClassAsymmetric
		default:
			wantClass = ClassCompression
		}
		if !ok || class != wantClass {
			t.Errorf("opcode %q in class %v (ok=%v), want %v", name, class, ok, wantClass)
		}
	}
	for o := 0; o < 256; o++ {
		if _, known := opNames[Opcode(o)]; Opcode(o).Valid() != known {
			t.Errorf("opcode %#x: Valid()=%v but named=%v", o, Opcode(o).Valid(), known)
		}
	}
	if _, err := ParseOpcode("rot13"); err == nil {
		t.Error("ParseOpcode accepted an unknown name")
	}
}
