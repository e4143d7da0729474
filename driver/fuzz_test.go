package driver

// Fuzz targets for the two places where the driver reads what a client wrote:
// control messages (FuzzCtlParse: the codecs; FuzzServerSession: a live server
// fed arbitrary datagrams and descriptors) and SQEs (FuzzSQEValidation: raw
// entries pushed into a real queue of an embedded driver and simulated device).
//
// The seed corpora live in testdata/fuzz/<target>/ and are produced by the
// seed functions below: ACCELQ_WRITE_FUZZ_SEEDS=1 go test -run TestFuzzSeedCorpora
// rewrites them, and TestFuzzSeedCorpora checks that none is missing.

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

// ---------------------------------------------------------------------------
// FuzzCtlParse

func FuzzCtlParse(f *testing.F) {
	f.Add(ctlMsg(MsgHello, 1, []byte{1, 0, 1, 0, 0, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, body, err := parseHeader(b)
		if err == nil {
			if int(h.Length) != len(body) || len(b) != ctlHeaderSize+len(body) {
				t.Fatalf("header %+v with %d payload bytes in a datagram of %d", h, len(body), len(b))
			}
			var re [ctlHeaderSize]byte
			putHeader(re[:], h)
			if !bytes.Equal(re[:], b[:ctlHeaderSize]) {
				t.Fatalf("header does not round-trip: %x -> %+v -> %x", b[:ctlHeaderSize], h, re)
			}
		} else if !errors.Is(err, errMalformed) {
			t.Fatalf("parseHeader: %v is not errMalformed", err)
		}
		// Every decoder, on the payload and on the raw bytes.
		checkDecoders(t, body)
		checkDecoders(t, b)
		// And the other way: requests built from the bytes encode and decode to
		// themselves.
		checkEncoders(t, b)
	})
}

// checkDecoders runs every codec on p: none may panic, a failure must be
// errMalformed, and a successful decode must encode back to p (requests and
// fixed replies) or to a fixed point (info, whose encoder normalises).
func checkDecoders(t *testing.T, p []byte) {
	t.Helper()
	roundTrip := func(name string, dec func(*payload) error, enc func(*builder)) {
		if err := dec(&payload{b: p}); err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("%s decode: %v is not errMalformed", name, err)
			}
			return
		}
		var b builder
		enc(&b)
		if !bytes.Equal(b, p) {
			t.Fatalf("%s: %x decodes, but encodes back as %x", name, p, []byte(b))
		}
	}
	var hello helloReq
	roundTrip("hello", hello.decode, hello.encode)
	var reg registerReq
	roundTrip("register", reg.decode, reg.encode)
	var hnd handleReq
	roundTrip("handle", hnd.decode, hnd.encode)
	var cq createQueueReq
	roundTrip("create-queue", cq.decode, cq.encode)
	var key importKeyReq
	roundTrip("import-key", key.decode, key.encode)
	var helloR helloReply
	roundTrip("hello reply", helloR.decode, helloR.encode)
	var regR registerReply
	roundTrip("register reply", regR.decode, regR.encode)
	var cqR createQueueReply
	roundTrip("create-queue reply", cqR.decode, cqR.encode)
	var hndR handleReply
	roundTrip("handle reply", hndR.decode, hndR.encode)
	if c, err := decodeCounters(&payload{b: p}); err == nil {
		var b builder
		encodeCounters(&b, c)
		if !bytes.Equal(b, p) {
			t.Fatalf("counters: %x decodes, but encodes back as %x", p, []byte(b))
		}
	} else if !errors.Is(err, errMalformed) {
		t.Fatalf("counters decode: %v", err)
	}
	if in, err := decodeInfo(&payload{b: p}); err == nil {
		var e1, e2 builder
		encodeInfo(&e1, in)
		in2, err := decodeInfo(&payload{b: e1})
		if err != nil {
			t.Fatalf("info: re-encoded info does not decode: %v", err)
		}
		encodeInfo(&e2, in2)
		if !bytes.Equal(e1, e2) {
			t.Fatalf("info encoding is not a fixed point: %x then %x", []byte(e1), []byte(e2))
		}
	} else if !errors.Is(err, errMalformed) {
		t.Fatalf("info decode: %v", err)
	}
}

// checkEncoders builds one request of each kind from b's bytes, encodes it into
// a message and checks that parsing and decoding give it back.
func checkEncoders(t *testing.T, b []byte) {
	t.Helper()
	var w [16]byte
	copy(w[:], b)
	le := binary.LittleEndian
	material := b[min(len(b), 16):]
	if len(material) > MaxCtlMessage-ctlHeaderSize-8 {
		material = material[:MaxCtlMessage-ctlHeaderSize-8]
	}
	type codec interface {
		encode(*builder)
		decode(*payload) error
	}
	reqs := []struct {
		t       MsgType
		in, out codec
	}{
		{MsgHello, &helloReq{Min: le.Uint16(w[0:]), Max: le.Uint16(w[2:])}, &helloReq{}},
		{MsgRegister, &registerReq{Flags: le.Uint32(w[4:]) & regWritable}, &registerReq{}},
		{MsgUnregister, &handleReq{Handle: le.Uint32(w[8:])}, &handleReq{}},
		{MsgCreateQueue, &createQueueReq{Depth: le.Uint32(w[0:]), Classes: w[4], Flags: w[5] & (cqCopyMode | cqEventFD), Weight: le.Uint16(w[6:])}, &createQueueReq{}},
		{MsgImportKey, &importKeyReq{Kind: w[12], Material: material}, &importKeyReq{}},
	}
	seq := le.Uint32(w[12:])
	for _, r := range reqs {
		var body builder
		r.in.encode(&body)
		msg := ctlMsg(r.t, seq, body)
		h, p, err := parseHeader(msg)
		if err != nil || h.Type != uint16(r.t) || h.Seq != seq || h.Status != CtlOK {
			t.Fatalf("%v: a message we built does not parse: %+v %v", r.t, h, err)
		}
		if err := r.out.decode(&payload{b: p}); err != nil {
			t.Fatalf("%v: an encoded request does not decode: %v", r.t, err)
		}
		if fmt.Sprintf("%+v", r.in) != fmt.Sprintf("%+v", r.out) {
			t.Fatalf("%v: %+v encodes and decodes as %+v", r.t, r.in, r.out)
		}
	}
}

// ctlSeeds are valid messages of every type, requests and replies, and
// truncated and damaged versions of them.
func ctlSeeds() map[string][]byte {
	req := func(t MsgType, c interface{ encode(*builder) }) []byte {
		var b builder
		if c != nil {
			c.encode(&b)
		}
		return ctlMsg(t, 7, b)
	}
	rep := func(t MsgType, st CtlStatus, body []byte) []byte {
		m := make([]byte, ctlHeaderSize, ctlHeaderSize+len(body))
		putHeader(m, ctlHeader{Type: uint16(t) | ctlReply, Seq: 7, Status: st, Length: uint16(len(body))})
		return append(m, body...)
	}
	enc := func(c interface{ encode(*builder) }) []byte {
		var b builder
		c.encode(&b)
		return b
	}
	rule := defaultRule()
	rule.AllowAll()
	var infoBody builder
	encodeInfo(&infoBody, Info{Device: device.Info{Name: "ideal", Profile: "ideal", Ops: ring.Opcodes(), MaxDepth: 1 << 20,
		Engines: [ring.NumClasses]int{0, 8, 4, 2}}, Ops: ring.Opcodes(), Rule: rule})
	var countersBody builder
	encodeCounters(&countersBody, device.Counters{Submitted: 10, Completed: 9, BytesIn: 4096, BytesOut: 320,
		Busy: time.Millisecond, Flushed: 1, ByStatus: map[ring.Status]uint64{ring.StatusBadAddress: 2}})
	s := map[string][]byte{
		"hello":                req(MsgHello, &helloReq{Min: 1, Max: 1}),
		"hello-range":          req(MsgHello, &helloReq{Min: 1, Max: 9}),
		"info":                 req(MsgInfo, nil),
		"register":             req(MsgRegister, &registerReq{}),
		"register-writable":    req(MsgRegister, &registerReq{Flags: regWritable}),
		"unregister":           req(MsgUnregister, &handleReq{Handle: 0x1234}),
		"create-queue":         req(MsgCreateQueue, &createQueueReq{Depth: 64, Classes: AllClasses, Weight: 1}),
		"create-queue-copy":    req(MsgCreateQueue, &createQueueReq{Depth: 16, Flags: cqCopyMode | cqEventFD}),
		"destroy-queue":        req(MsgDestroyQueue, &handleReq{Handle: 0x5678}),
		"import-key-aes":       req(MsgImportKey, &importKeyReq{Kind: uint8(device.KeyAES), Material: make([]byte, 16)}),
		"import-key-hmac":      req(MsgImportKey, &importKeyReq{Kind: uint8(device.KeyHMAC), Material: []byte("secret")}),
		"destroy-key":          req(MsgDestroyKey, &handleReq{Handle: 0x9abc}),
		"queue-stats":          req(MsgQueueStats, &handleReq{Handle: 0xdef0}),
		"unknown-type":         req(MsgType(77), nil),
		"reply-hello":          rep(MsgHello, CtlOK, enc(&helloReply{Version: 1})),
		"reply-register":       rep(MsgRegister, CtlOK, enc(&registerReply{Handle: 0x1234, Size: 1 << 16})),
		"reply-create-queue":   rep(MsgCreateQueue, CtlOK, enc(&createQueueReply{Handle: 0x5678, Depth: 64})),
		"reply-import-key":     rep(MsgImportKey, CtlOK, enc(&handleReply{Handle: 0x9abc})),
		"reply-info":           rep(MsgInfo, CtlOK, infoBody),
		"reply-queue-stats":    rep(MsgQueueStats, CtlOK, countersBody),
		"reply-error":          rep(MsgRegister, CtlBadFD, []byte("driver: memory not sealed against shrinking")),
		"empty":                {},
		"short":                {0x41, 0x51},
		"header-only-bad-len":  ctlMsg(MsgInfo, 1, nil)[:ctlHeaderSize-1],
		"import-key-length-ok": req(MsgImportKey, &importKeyReq{Kind: uint8(device.KeyPrivate), Material: bytes.Repeat([]byte{0x30}, 300)}),
	}
	// Truncations of a few of them.
	for _, name := range []string{"hello", "register", "create-queue", "import-key-aes", "reply-info", "reply-queue-stats"} {
		m := s[name]
		s[name+"-truncated"] = m[:len(m)-1]
		s[name+"-header-only"] = m[:ctlHeaderSize]
	}
	return s
}

// ---------------------------------------------------------------------------
// FuzzServerSession

// A session input is a mode byte (bit 0: send a valid hello first) followed by
// records: a flags byte (bits 0-2: number of descriptors to attach; bits 3-4:
// which descriptor to start from), a little-endian u16 length and that many
// bytes, sent as one datagram. A handle field holding 1 in a request that names
// a handle is replaced by the last handle the server returned.
type sessionRecord struct {
	flags byte
	data  []byte
}

const maxSessionRecords = 40

func parseSession(b []byte) (hello bool, recs []sessionRecord) {
	if len(b) == 0 {
		return false, nil
	}
	hello, b = b[0]&1 != 0, b[1:]
	for len(b) >= 3 && len(recs) < maxSessionRecords {
		n := int(binary.LittleEndian.Uint16(b[1:]))
		flags := b[0]
		b = b[3:]
		n = min(n, len(b))
		recs = append(recs, sessionRecord{flags: flags, data: b[:n]})
		b = b[n:]
	}
	return hello, recs
}

func encodeSession(hello bool, recs ...sessionRecord) []byte {
	b := []byte{0}
	if hello {
		b[0] = 1
	}
	for _, r := range recs {
		b = append(b, r.flags)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(r.data)))
		b = append(b, r.data...)
	}
	return b
}

// fuzzServer is one in-process server per fuzz worker process.
type fuzzServer struct {
	path string
	fds  [3]int // a sealed memfd, an unsealed memfd, an eventfd
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	p, err := ParsePolicy([]byte(`{"default": {"ops": ["*"], "max_contexts": 1000000, "max_queues": 4,
		"max_regions": 8, "max_registered_bytes": 1048576, "max_keys": 8}}`))
	if err != nil {
		tb.Fatal(err)
	}
	path, _ := startServer(tb, p)
	fs := &fuzzServer{path: path}
	fs.fds[0], _ = sealedMemfd(tb, 4096)
	fs.fds[1], _ = newMemfd(tb, 4096, 0)
	efd, err := ring.NewEventNotifier()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { efd.Close() })
	fs.fds[2] = efd.FD()
	return fs
}

func FuzzServerSession(f *testing.F) {
	fs := newFuzzServer(f)
	f.Add(encodeSession(true, sessionRecord{data: ctlMsg(MsgInfo, 2, nil)}))
	f.Fuzz(func(t *testing.T, in []byte) {
		hello, recs := parseSession(in)
		c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: fs.path, Net: "unixpacket"})
		if err != nil {
			t.Fatal(err)
		}
		r := &rawConn{t: t, c: c, buf: make([]byte, MaxCtlMessage+1), oob: make([]byte, unix.RightsSpace(8))}
		if hello {
			r.hello()
		}
		fs.session(t, r, recs)
		c.Close()
		// The server still serves a well-behaved client.
		cn, err := Dial(fs.path)
		if err != nil {
			t.Fatalf("dial after the session: %v", err)
		}
		defer cn.Close()
		if _, err := cn.Info(); err != nil {
			t.Fatalf("info after the session: %v", err)
		}
	})
}

// session sends the records one by one; each must get a reply, or the server
// must hang up.
func (fs *fuzzServer) session(t *testing.T, r *rawConn, recs []sessionRecord) {
	last := uint32(0)
	for i, rec := range recs {
		msg := bytes.Clone(rec.data)
		h, body, perr := parseHeader(msg)
		if perr == nil && len(body) >= 4 && binary.LittleEndian.Uint32(body) == 1 {
			switch MsgType(h.Type) {
			case MsgUnregister, MsgDestroyQueue, MsgDestroyKey, MsgQueueStats:
				binary.LittleEndian.PutUint32(msg[ctlHeaderSize:], last)
			}
		}
		var fds []int
		for k := range int(rec.flags & 7) {
			fds = append(fds, fs.fds[(int(rec.flags>>3&3)+k)%3])
		}
		var err error
		if len(msg) == 0 {
			err = r.sendEmpty(fds...)
		} else {
			err = r.send(msg, fds...)
		}
		if err != nil {
			// The server hung up (broken pipe, reset): allowed after
			// garbage. It must then not answer anything else.
			return
		}
		rh, rbody, _, err := r.recv(10 * time.Second)
		if errors.Is(err, io.EOF) {
			return // the server hung up: allowed
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("record %d (%d bytes, %d descriptors): no reply and no hang-up in 10 s", i, len(msg), len(fds))
		}
		if err != nil {
			if errors.Is(err, syscall.ECONNRESET) {
				return
			}
			t.Fatalf("record %d: %v", i, err)
		}
		if perr == nil && len(fds) <= maxCtlFDs && len(msg) <= MaxCtlMessage && h.Type&ctlReply == 0 {
			if rh.Type != h.Type|ctlReply || rh.Seq != h.Seq {
				t.Fatalf("record %d: reply %+v to request %+v", i, rh, h)
			}
		}
		if rh.Status == CtlOK {
			switch MsgType(rh.Type &^ ctlReply) {
			case MsgRegister, MsgCreateQueue, MsgImportKey:
				if len(rbody) >= 4 {
					last = binary.LittleEndian.Uint32(rbody)
				}
			}
		} else if len(rbody) == 0 {
			t.Fatalf("record %d: refusal %v without a reason", i, rh.Status)
		}
	}
}

func sessionSeeds() map[string][]byte {
	req := func(t MsgType, seq uint32, c interface{ encode(*builder) }) []byte {
		var b builder
		if c != nil {
			c.encode(&b)
		}
		return ctlMsg(t, seq, b)
	}
	rec := func(nfds int, data []byte) sessionRecord { return sessionRecord{flags: byte(nfds), data: data} }
	withFD := func(nfds, first int, data []byte) sessionRecord {
		return sessionRecord{flags: byte(nfds | first<<3), data: data}
	}
	one := func(t MsgType, seq uint32, c interface{ encode(*builder) }) sessionRecord {
		return rec(0, req(t, seq, c))
	}
	s := map[string][]byte{
		"hello-info": encodeSession(false, one(MsgHello, 1, &helloReq{Min: 1, Max: 1}), one(MsgInfo, 2, nil)),
		"full-session": encodeSession(true,
			withFD(1, 0, req(MsgRegister, 2, &registerReq{Flags: regWritable})),
			one(MsgUnregister, 3, &handleReq{Handle: 1}),
			one(MsgCreateQueue, 4, &createQueueReq{Depth: 16}),
			one(MsgQueueStats, 5, &handleReq{Handle: 1}),
			one(MsgDestroyQueue, 6, &handleReq{Handle: 1}),
			withFD(1, 2, req(MsgCreateQueue, 7, &createQueueReq{Depth: 8, Flags: cqEventFD | cqCopyMode})),
			one(MsgImportKey, 8, &importKeyReq{Kind: uint8(device.KeyAES), Material: make([]byte, 32)}),
			one(MsgDestroyKey, 9, &handleReq{Handle: 1}),
			one(MsgDestroyKey, 10, &handleReq{Handle: 1}),
			one(MsgInfo, 11, nil)),
		"no-hello":       encodeSession(false, one(MsgInfo, 1, nil), one(MsgRegister, 2, &registerReq{})),
		"bad-version":    encodeSession(false, one(MsgHello, 1, &helloReq{Min: 2, Max: 5}), one(MsgHello, 2, &helloReq{Min: 0, Max: 1})),
		"unsealed":       encodeSession(true, withFD(1, 1, req(MsgRegister, 2, &registerReq{}))),
		"fd-counts":      encodeSession(true, withFD(2, 0, req(MsgRegister, 2, &registerReq{})), withFD(4, 0, req(MsgRegister, 3, &registerReq{})), withFD(7, 1, req(MsgInfo, 4, nil)), withFD(3, 2, req(MsgHello, 5, &helloReq{Min: 1, Max: 1}))),
		"bad-queues":     encodeSession(true, one(MsgCreateQueue, 2, &createQueueReq{Depth: 3}), one(MsgCreateQueue, 3, &createQueueReq{Depth: 8, Classes: 0xf0}), one(MsgCreateQueue, 4, &createQueueReq{Depth: 8, Weight: 9}), withFD(1, 0, req(MsgCreateQueue, 5, &createQueueReq{Depth: 8, Flags: cqEventFD}))),
		"bad-keys":       encodeSession(true, one(MsgImportKey, 2, &importKeyReq{Kind: uint8(device.KeyAES), Material: []byte("short")}), one(MsgImportKey, 3, &importKeyReq{Kind: 99, Material: []byte("x")}), one(MsgImportKey, 4, &importKeyReq{Kind: uint8(device.KeyPrivate), Material: bytes.Repeat([]byte{0x30, 0x82}, 100)})),
		"empty-datagram": encodeSession(true, withFD(3, 0, nil)),
		"reply-as-request": encodeSession(true, rec(0, func() []byte {
			m := req(MsgInfo, 2, nil)
			binary.LittleEndian.PutUint16(m[6:], uint16(MsgInfo)|ctlReply)
			return m
		}())),
		"truncated": encodeSession(true, rec(0, req(MsgRegister, 2, &registerReq{})[:20]), rec(0, req(MsgInfo, 3, nil)[:10]), rec(0, []byte("AQCT"))),
		"oversize":  encodeSession(true, rec(0, make([]byte, MaxCtlMessage+1))),
	}
	var junk []sessionRecord
	for i := range maxGarbage + 2 {
		junk = append(junk, rec(i%2, []byte(fmt.Sprintf("junk %d", i))))
	}
	s["garbage-until-hangup"] = encodeSession(true, junk...)
	return s
}

// ---------------------------------------------------------------------------
// FuzzSQEValidation

// sqeFixture is an embedded driver on the ideal simulated device with one
// context holding two regions a descriptor can name (A read-write, B read-only),
// a guard region no descriptor can name, keys, and a queue in each buffer
// mode; another context holds a foreign region.
type sqeFixture struct {
	a, b, g, foreign           []byte
	ha, hb, hg, hf             uint32
	keys                       []uint32
	zero, copied               *client
	snapA, snapB, snapG, snapF []byte
}

const sqeRegion = 4096

// Remapped field values in fuzz inputs.
const (
	fuzzRegionA       = 1
	fuzzRegionB       = 2
	fuzzRegionForeign = 3
)

func newSQEFixture(tb testing.TB) *sqeFixture {
	dev := newIdealDevice(tb)
	d := New(dev, nil)
	c := openCtx(tb, d, 1000)
	other := openCtx(tb, d, 2000)
	fx := &sqeFixture{}
	var fd int
	fd, fx.a = sealedMemfd(tb, sqeRegion)
	fx.ha = register(tb, c, fd, true)
	fd, fx.b = sealedMemfd(tb, sqeRegion)
	fx.hb = register(tb, c, fd, false)
	fd, fx.g = sealedMemfd(tb, sqeRegion)
	fx.hg = register(tb, c, fd, true)
	fd, fx.foreign = sealedMemfd(tb, sqeRegion)
	fx.hf = register(tb, other, fd, true)
	for i := range fx.b {
		fx.b[i] = byte(i*13 + 1)
	}
	for i := range fx.g {
		fx.g[i] = 0x6b
	}
	for i := range fx.foreign {
		fx.foreign[i] = 0xf0
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	xPriv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der := func(k any) []byte {
		b, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	pub, err := x509.MarshalPKIXPublicKey(ecPriv.Public())
	if err != nil {
		tb.Fatal(err)
	}
	xts := make([]byte, 64)
	for i := range xts {
		xts[i] = byte(i)
	}
	for _, k := range []struct {
		kind device.KeyKind
		m    []byte
	}{
		{device.KeyAES, bytes.Repeat([]byte{1}, 16)},
		{device.KeyAES, bytes.Repeat([]byte{2}, 32)},
		{device.KeyChaCha20Poly1305, bytes.Repeat([]byte{3}, 32)},
		{device.KeyAESXTS, xts},
		{device.KeyHMAC, []byte("fuzz hmac key")},
		{device.KeyPrivate, der(edPriv)},
		{device.KeyPrivate, der(ecPriv)},
		{device.KeyPrivate, der(xPriv)},
		{device.KeyPublic, pub},
	} {
		h, err := c.ImportKey(k.kind, k.m)
		if err != nil {
			tb.Fatalf("importing a %v key: %v", k.kind, err)
		}
		fx.keys = append(fx.keys, h)
	}
	fx.zero = newClient(tb, dev, c, QueueOptions{Depth: 4})
	fx.copied = newClient(tb, dev, c, QueueOptions{Depth: 4, CopyMode: true})
	fx.snapA, fx.snapB = make([]byte, sqeRegion), make([]byte, sqeRegion)
	fx.snapG, fx.snapF = make([]byte, sqeRegion), make([]byte, sqeRegion)
	return fx
}

// remap makes small values in an SQE's key and region fields name the
// fixture's keys and regions, and makes the guard region unnameable.
func (fx *sqeFixture) remap(e []byte) {
	le := binary.LittleEndian
	if k := le.Uint32(e[4:]); k >= 1 && int(k) <= len(fx.keys) {
		le.PutUint32(e[4:], fx.keys[k-1])
	}
	for _, off := range []int{16, 32, 48} {
		switch v := le.Uint32(e[off:]); v {
		case fuzzRegionA:
			le.PutUint32(e[off:], fx.ha)
		case fuzzRegionB:
			le.PutUint32(e[off:], fx.hb)
		case fuzzRegionForeign:
			le.PutUint32(e[off:], fx.hf)
		case fx.hg:
			le.PutUint32(e[off:], 0xfffffff0)
		}
	}
}

func FuzzSQEValidation(f *testing.F) {
	fx := newSQEFixture(f)
	f.Add(make([]byte, ring.SQESize), false)
	f.Fuzz(func(t *testing.T, in []byte, copyMode bool) {
		e := make([]byte, ring.SQESize)
		copy(e, in)
		fx.remap(e)
		userData := binary.LittleEndian.Uint64(e[8:])
		for i := range fx.a {
			fx.a[i] = byte(i*31 + 7)
		}
		copy(fx.snapA, fx.a)
		copy(fx.snapB, fx.b)
		copy(fx.snapG, fx.g)
		copy(fx.snapF, fx.foreign)
		cl := fx.zero
		if copyMode {
			cl = fx.copied
		}
		n, err := cl.sq.Reserve(1)
		if err != nil || n != 1 {
			t.Fatalf("reserve: %d %v", n, err)
		}
		copy(cl.sq.Entry(0), e)
		cl.sq.Commit(1)
		cl.sq.Wake()
		var c ring.CQE
		got := false
		for deadline := time.Now().Add(20 * time.Second); !got; {
			if _, err := cl.cq.Wait(2000, 10*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			k, err := cl.cq.Pop(cl.buf)
			if err != nil {
				t.Fatal(err)
			}
			if k == 1 {
				if err := c.Decode(cl.buf); err != nil {
					t.Fatalf("the device posted a bad CQE: %v", err)
				}
				got = true
			} else if time.Now().After(deadline) {
				t.Fatalf("no CQE for SQE %x", e)
			}
		}
		if k, err := cl.cq.Available(); k != 0 || err != nil {
			t.Fatalf("%d more CQEs for one SQE (%v)", k, err)
		}
		if c.UserData != userData {
			t.Fatalf("CQE user data %#x, SQE had %#x", c.UserData, userData)
		}
		if c.Status > ring.StatusBusy {
			t.Fatalf("CQE status %d is not defined", c.Status)
		}
		var s ring.SQE
		decodeErr := s.Decode(e)
		if decodeErr != nil && c.Status != ring.StatusInvalid {
			t.Fatalf("an SQE that does not decode (%v) completed with %v", decodeErr, c.Status)
		}
		if c.Status != ring.StatusOK && c.Result != 0 {
			t.Fatalf("a failed job (%v) reports %d bytes written", c.Status, c.Result)
		}
		// Nothing outside the destination the SQE names changed.
		lo, hi := uint64(0), uint64(0)
		if decodeErr == nil && s.Dst.Region == fx.ha && s.Dst.Off <= sqeRegion && uint64(s.Dst.Len) <= sqeRegion-s.Dst.Off {
			lo, hi = s.Dst.Off, s.Dst.Off+uint64(s.Dst.Len)
		}
		for i := range fx.a {
			if fx.a[i] != fx.snapA[i] && (uint64(i) < lo || uint64(i) >= hi) {
				t.Fatalf("byte %d of region A changed, outside the destination [%d, %d) of %+v (%v)", i, lo, hi, s, c.Status)
			}
		}
		if c.Status == ring.StatusOK && uint64(c.Result) > hi-lo {
			t.Fatalf("job reports %d bytes written into a destination of %d", c.Result, hi-lo)
		}
		for name, p := range map[string][2][]byte{"read-only B": {fx.b, fx.snapB}, "guard": {fx.g, fx.snapG}, "foreign": {fx.foreign, fx.snapF}} {
			if !bytes.Equal(p[0], p[1]) {
				t.Fatalf("region %s changed by %+v (%v)", name, s, c.Status)
			}
		}
	})
}

type sqeSeed struct {
	sqe      ring.SQE
	copyMode bool
	raw      func([]byte) // damage after encoding
}

func sqeSeeds() map[string]sqeSeed {
	A, B, F := uint32(fuzzRegionA), uint32(fuzzRegionB), uint32(fuzzRegionForeign)
	ref := func(r uint32, off uint64, n uint32) ring.BufRef { return ring.BufRef{Region: r, Off: off, Len: n} }
	s := map[string]sqeSeed{
		"nop":               {sqe: ring.SQE{Opcode: ring.OpNop, UserData: 1}},
		"sha256":            {sqe: ring.SQE{Opcode: ring.OpSHA256, UserData: 2, Src: ref(A, 0, 1024), Dst: ref(A, 2048, 32)}},
		"sha512-from-ro":    {sqe: ring.SQE{Opcode: ring.OpSHA512, UserData: 3, Src: ref(B, 0, 4096), Dst: ref(A, 0, 64)}, copyMode: true},
		"crc32c":            {sqe: ring.SQE{Opcode: ring.OpCRC32C, UserData: 4, Src: ref(A, 0, 4096), Aux: ref(B, 0, 4)}},
		"hmac":              {sqe: ring.SQE{Opcode: ring.OpHMACSHA256, Key: 5, UserData: 5, Src: ref(B, 0, 100), Dst: ref(A, 100, 32)}},
		"aes-gcm-seal":      {sqe: ring.SQE{Opcode: ring.OpAESGCMSeal, Key: 1, UserData: 6, Src: ref(A, 0, 256), Aux: ref(B, 0, 12+20), Dst: ref(A, 1024, 272)}},
		"aes-gcm-seal-copy": {sqe: ring.SQE{Opcode: ring.OpAESGCMSeal, Key: 2, UserData: 7, Src: ref(A, 0, 256), Aux: ref(B, 0, 12), Dst: ref(A, 1024, 272)}, copyMode: true},
		"aes-gcm-in-place":  {sqe: ring.SQE{Opcode: ring.OpAESGCMSeal, Flags: ring.SQEInPlace, Key: 1, UserData: 8, Src: ref(A, 0, 256), Aux: ref(B, 0, 12), Dst: ref(A, 0, 272)}},
		"aes-gcm-open":      {sqe: ring.SQE{Opcode: ring.OpAESGCMOpen, Key: 1, UserData: 9, Src: ref(A, 0, 272), Aux: ref(B, 0, 12), Dst: ref(A, 1024, 256)}},
		"chacha-seal":       {sqe: ring.SQE{Opcode: ring.OpChaCha20Poly1305Seal, Key: 3, UserData: 10, Src: ref(B, 0, 64), Aux: ref(B, 64, 12), Dst: ref(A, 0, 80)}},
		"xts":               {sqe: ring.SQE{Opcode: ring.OpAESXTSEncrypt, Key: 4, UserData: 11, Src: ref(A, 0, 512), Aux: ref(B, 0, 8), Dst: ref(A, 512, 512)}},
		"ed25519-sign":      {sqe: ring.SQE{Opcode: ring.OpEd25519Sign, Key: 6, UserData: 12, Src: ref(B, 0, 100), Dst: ref(A, 0, 64)}},
		"ecdsa-sign":        {sqe: ring.SQE{Opcode: ring.OpECDSASign, Key: 7, UserData: 13, Src: ref(B, 0, 32), Dst: ref(A, 0, 80)}},
		"ecdsa-verify":      {sqe: ring.SQE{Opcode: ring.OpECDSAVerify, Key: 9, UserData: 14, Src: ref(B, 0, 32), Aux: ref(A, 0, 72)}},
		"x25519":            {sqe: ring.SQE{Opcode: ring.OpX25519, Key: 8, UserData: 15, Aux: ref(B, 0, 32), Dst: ref(A, 0, 32)}},
		"gzip":              {sqe: ring.SQE{Opcode: ring.OpGzipCompress, Param: 6, UserData: 16, Src: ref(B, 0, 2048), Dst: ref(A, 0, 4096)}},
		"zstd":              {sqe: ring.SQE{Opcode: ring.OpZstdCompress, Param: 3, UserData: 17, Src: ref(B, 0, 2048), Dst: ref(A, 0, 4096)}, copyMode: true},
		"inflate-garbage":   {sqe: ring.SQE{Opcode: ring.OpDeflateDecompress, UserData: 18, Src: ref(B, 0, 512), Dst: ref(A, 0, 4096)}},
		"foreign-src":       {sqe: ring.SQE{Opcode: ring.OpSHA256, UserData: 19, Src: ref(F, 0, 64), Dst: ref(A, 0, 32)}},
		"foreign-dst":       {sqe: ring.SQE{Opcode: ring.OpSHA256, UserData: 20, Src: ref(A, 0, 64), Dst: ref(F, 0, 32)}},
		"write-read-only":   {sqe: ring.SQE{Opcode: ring.OpSHA256, UserData: 21, Src: ref(A, 0, 64), Dst: ref(B, 0, 32)}},
		"overflow":          {sqe: ring.SQE{Opcode: ring.OpSHA256, UserData: 22, Src: ref(A, ^uint64(0)-3, 8), Dst: ref(A, 0, 32)}},
		"wrap":              {sqe: ring.SQE{Opcode: ring.OpSHA256, UserData: 23, Src: ref(A, 0, 64), Dst: ref(A, ^uint64(0)-10, 100)}},
		"overlap":           {sqe: ring.SQE{Opcode: ring.OpSHA256, UserData: 24, Src: ref(A, 0, 64), Dst: ref(A, 32, 32)}},
		"no-space":          {sqe: ring.SQE{Opcode: ring.OpSHA256, UserData: 25, Src: ref(A, 0, 64), Dst: ref(A, 100, 16)}},
		"unknown-opcode":    {sqe: ring.SQE{Opcode: 0x3f, UserData: 26}},
		"key-not-allowed":   {sqe: ring.SQE{Opcode: ring.OpEd25519Sign, Key: 1, UserData: 27, Src: ref(B, 0, 10), Dst: ref(A, 0, 64)}},
		"reserved-set":      {sqe: ring.SQE{Opcode: ring.OpNop, UserData: 28}, raw: func(b []byte) { b[54] = 1 }},
		"unknown-flags":     {sqe: ring.SQE{Opcode: ring.OpSHA256, UserData: 29, Src: ref(A, 0, 1), Dst: ref(A, 64, 32)}, raw: func(b []byte) { b[1] = 0x80 }},
		"fence":             {sqe: ring.SQE{Opcode: ring.OpSHA256, Flags: ring.SQEFence, UserData: 30, Src: ref(A, 0, 1), Dst: ref(A, 64, 32)}},
	}
	return s
}

func encodeSQESeed(sd sqeSeed) []byte {
	b := make([]byte, ring.SQESize)
	if err := sd.sqe.Encode(b); err != nil {
		panic(err)
	}
	if sd.raw != nil {
		sd.raw(b)
	}
	return b
}

// ---------------------------------------------------------------------------
// Seed corpora

// corpusFile formats fuzz arguments in the testdata corpus format.
func corpusFile(args ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		default:
			panic(fmt.Sprintf("corpusFile: %T", a))
		}
	}
	return b.Bytes()
}

func seedCorpora() map[string]map[string][]byte {
	out := map[string]map[string][]byte{"FuzzCtlParse": {}, "FuzzServerSession": {}, "FuzzSQEValidation": {}}
	for name, m := range ctlSeeds() {
		out["FuzzCtlParse"][name] = corpusFile(m)
	}
	for name, m := range sessionSeeds() {
		out["FuzzServerSession"][name] = corpusFile(m)
	}
	for name, sd := range sqeSeeds() {
		out["FuzzSQEValidation"][name] = corpusFile(encodeSQESeed(sd), sd.copyMode)
	}
	return out
}

// TestFuzzSeedCorpora checks that every seed is committed under testdata/fuzz;
// with ACCELQ_WRITE_FUZZ_SEEDS=1 it writes them.
func TestFuzzSeedCorpora(t *testing.T) {
	write := os.Getenv("ACCELQ_WRITE_FUZZ_SEEDS") == "1"
	for target, seeds := range seedCorpora() {
		dir := filepath.Join("testdata", "fuzz", target)
		if write {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, data := range seeds {
			path := filepath.Join(dir, "seed-"+name)
			if write {
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("seed %s/%s is not committed (ACCELQ_WRITE_FUZZ_SEEDS=1 go test -run TestFuzzSeedCorpora writes it): %v", target, name, err)
				continue
			}
			if !bytes.Equal(got, data) {
				// Not an error: the protocol may have moved on, and an old
				// seed is still a fine input.
				t.Logf("seed %s differs from its definition; ACCELQ_WRITE_FUZZ_SEEDS=1 rewrites it", path)
			}
		}
	}
}
