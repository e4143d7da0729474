package op_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/xts"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/op"
	"github.com/accelq/accelq/internal/wycheproof"
	"github.com/accelq/accelq/ring"
)

// This file holds the symmetric tests and the harness every crypto test of the
// package shares: cryptoRun (the guarded executor), the test keys, the hostile
// input test, the fuzz target and the benchmarks.

const (
	guardLen  = 64
	guardByte = 0xa5
)

// cryptoJob is one call of op.Run. With inPlace, dst starts at src's first byte
// (one buffer of max(len(src), dstLen) bytes), as an IN_PLACE SQE gives it.
type cryptoJob struct {
	op      ring.Opcode
	param   uint16
	key     *device.Key
	src     []byte
	aux     []byte
	dstLen  int
	inPlace bool
}

func (j cryptoJob) String() string {
	return fmt.Sprintf("%v param=%d key=%v src=%d aux=%d dst=%d inplace=%v",
		j.op, j.param, j.key != nil, len(j.src), len(j.aux), j.dstLen, j.inPlace)
}

func cloneBytes(b []byte) []byte { return append(make([]byte, 0, len(b)), b...) }

// cryptoRun executes j with every buffer at capacity == length and dst carved out
// of a larger buffer, and checks what must hold whatever the inputs: no panic
// (op.Run turns one into StatusDeviceError, which no input may cause), N within
// dst and 0 on failure, nothing written past dst, nothing written at all on
// failure, src (out of place) and aux never written. It returns the result and a
// copy of dst[:N].
func cryptoRun(tb testing.TB, j cryptoJob) (op.Result, []byte) {
	tb.Helper()
	aux := cloneBytes(j.aux)
	var backing, src, dst []byte
	if j.inPlace {
		backing = make([]byte, max(len(j.src), j.dstLen)+guardLen)
		for i := range backing {
			backing[i] = guardByte
		}
		copy(backing, j.src)
		src = backing[:len(j.src):len(j.src)]
	} else {
		src = cloneBytes(j.src)
		backing = bytes.Repeat([]byte{guardByte}, j.dstLen+guardLen)
	}
	dst = backing[:j.dstLen:j.dstLen]
	before := cloneBytes(backing)

	res := op.Run(j.op, j.param, j.key, src, aux, dst)

	if res.Status == ring.StatusDeviceError {
		tb.Errorf("%v: status %v (a panic or library failure)", j, res.Status)
	}
	if res.N < 0 || res.N > len(dst) {
		tb.Fatalf("%v: N = %d outside dst of %d bytes", j, res.N, len(dst))
	}
	if res.Status != ring.StatusOK && res.N != 0 {
		tb.Errorf("%v: status %v with N = %d", j, res.Status, res.N)
	}
	from := res.N
	if res.Status != ring.StatusOK {
		from = 0
	}
	if !bytes.Equal(backing[from:], before[from:]) {
		i := from
		for backing[i] == before[i] {
			i++
		}
		tb.Errorf("%v: status %v N=%d: byte %d (dst length %d) written", j, res.Status, res.N, i, len(dst))
	}
	if !j.inPlace && !bytes.Equal(src, j.src) {
		tb.Errorf("%v: src written", j)
	}
	if !bytes.Equal(aux, j.aux) {
		tb.Errorf("%v: aux written", j)
	}
	return res, cloneBytes(dst[:res.N])
}

// cryptoWant runs j and checks its status.
func cryptoWant(tb testing.TB, j cryptoJob, want ring.Status) []byte {
	tb.Helper()
	res, out := cryptoRun(tb, j)
	if res.Status != want {
		tb.Errorf("%v: status %v, want %v", j, res.Status, want)
	}
	return out
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func mustKey(tb testing.TB, kind device.KeyKind, material []byte) *device.Key {
	tb.Helper()
	k, err := device.ParseKey(kind, material)
	if err != nil {
		tb.Fatalf("ParseKey(%v): %v", kind, err)
	}
	return k
}

// ciEnv reports whether missing tools and vectors must fail rather than skip.
func ciEnv() bool { return os.Getenv("CI") != "" }

// needTool returns the path of an external tool, skipping the test when it is
// missing (failing under CI).
func needTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if ciEnv() {
			tb.Fatalf("%s not installed (required under CI): %v", name, err)
		}
		tb.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// runTool runs a command and fails the test with its output if it fails.
func runTool(tb testing.TB, name string, args ...string) []byte {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

func writeFile(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// Symmetric test keys.
type symKeys struct {
	aes128Raw, aes256Raw, chachaRaw, xtsRaw, hmacRaw []byte
	aes128, aes256, chacha, xts, hmac                *device.Key
}

var (
	symOnce sync.Once
	symK    *symKeys
)

func symmetricKeys(tb testing.TB) *symKeys {
	symOnce.Do(func() {
		k := &symKeys{
			aes128Raw: randBytes(16), aes256Raw: randBytes(32), chachaRaw: randBytes(32),
			xtsRaw: randBytes(64), hmacRaw: randBytes(40),
		}
		k.aes128 = mustKey(tb, device.KeyAES, k.aes128Raw)
		k.aes256 = mustKey(tb, device.KeyAES, k.aes256Raw)
		k.chacha = mustKey(tb, device.KeyChaCha20Poly1305, k.chachaRaw)
		k.xts = mustKey(tb, device.KeyAESXTS, k.xtsRaw)
		k.hmac = mustKey(tb, device.KeyHMAC, k.hmacRaw)
		symK = k
	})
	if symK == nil {
		tb.Fatal("symmetric keys unavailable")
	}
	return symK
}

type aeadKind struct {
	name       string
	seal, open ring.Opcode
	key        *device.Key
	std        cipher.AEAD
}

func aeadKinds(tb testing.TB) []aeadKind {
	k := symmetricKeys(tb)
	gcm := func(raw []byte) cipher.AEAD {
		b, _ := aes.NewCipher(raw)
		a, _ := cipher.NewGCM(b)
		return a
	}
	cc, _ := chacha20poly1305.New(k.chachaRaw)
	return []aeadKind{
		{"aes-128-gcm", ring.OpAESGCMSeal, ring.OpAESGCMOpen, k.aes128, gcm(k.aes128Raw)},
		{"aes-256-gcm", ring.OpAESGCMSeal, ring.OpAESGCMOpen, k.aes256, gcm(k.aes256Raw)},
		{"chacha20-poly1305", ring.OpChaCha20Poly1305Seal, ring.OpChaCha20Poly1305Open, k.chacha, cc},
	}
}

func TestAEADRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 15, 16, 17, 255, 4096, 70000, 1<<20 + 3}
	if testing.Short() {
		sizes = sizes[:7]
	}
	for _, a := range aeadKinds(t) {
		t.Run(a.name, func(t *testing.T) {
			for _, n := range sizes {
				for _, inPlace := range []bool{false, true} {
					msg := randBytes(n)
					aux := randBytes(12 + n%37) // nonce || AAD
					want := a.std.Seal(nil, aux[:12], msg, aux[12:])
					ct := cryptoWant(t, cryptoJob{op: a.seal, key: a.key, src: msg, aux: aux, dstLen: n + 16, inPlace: inPlace}, ring.StatusOK)
					if !bytes.Equal(ct, want) {
						t.Fatalf("seal %d bytes (in place %v): differs from the standard library", n, inPlace)
					}
					// A larger dst: N says how much was written.
					ct2 := cryptoWant(t, cryptoJob{op: a.seal, key: a.key, src: msg, aux: aux, dstLen: n + 40, inPlace: inPlace}, ring.StatusOK)
					if !bytes.Equal(ct2, want) {
						t.Fatalf("seal into a larger dst differs")
					}
					pt := cryptoWant(t, cryptoJob{op: a.open, key: a.key, src: ct, aux: aux, dstLen: n, inPlace: inPlace}, ring.StatusOK)
					if !bytes.Equal(pt, msg) {
						t.Fatalf("open %d bytes (in place %v): wrong plaintext", n, inPlace)
					}
					// Forgeries: flipped ciphertext, tag or AAD bit; the harness
					// checks that dst, including the in-place ciphertext, is untouched.
					for _, i := range []int{0, len(ct) - 1, len(ct) / 2} {
						bad := cloneBytes(ct)
						bad[i] ^= 0x10
						cryptoWant(t, cryptoJob{op: a.open, key: a.key, src: bad, aux: aux, dstLen: n, inPlace: inPlace}, ring.StatusAuthFailed)
					}
					badAux := cloneBytes(aux)
					badAux[len(badAux)-1] ^= 1
					cryptoWant(t, cryptoJob{op: a.open, key: a.key, src: ct, aux: badAux, dstLen: n + 7, inPlace: inPlace}, ring.StatusAuthFailed)
				}
			}
		})
	}
}

func TestAEADArguments(t *testing.T) {
	for _, a := range aeadKinds(t) {
		t.Run(a.name, func(t *testing.T) {
			msg := randBytes(100)
			nonce := randBytes(12)
			ct := a.std.Seal(nil, nonce, msg, nil)
			for _, c := range []struct {
				j    cryptoJob
				want ring.Status
			}{
				{cryptoJob{op: a.seal, key: a.key, src: msg, aux: nonce[:11], dstLen: 116}, ring.StatusInvalid},
				{cryptoJob{op: a.seal, key: a.key, src: msg, aux: nil, dstLen: 116}, ring.StatusInvalid},
				{cryptoJob{op: a.seal, key: a.key, src: msg, aux: nonce, dstLen: 115}, ring.StatusNoSpace},
				{cryptoJob{op: a.seal, key: a.key, src: msg, aux: nonce, dstLen: 116, param: 1}, ring.StatusInvalid},
				{cryptoJob{op: a.seal, src: msg, aux: nonce, dstLen: 116}, ring.StatusNotPermitted},
				{cryptoJob{op: a.open, key: a.key, src: ct, aux: nonce[:5], dstLen: 100}, ring.StatusInvalid},
				{cryptoJob{op: a.open, key: a.key, src: ct[:15], aux: nonce, dstLen: 100}, ring.StatusInvalid},
				{cryptoJob{op: a.open, key: a.key, src: ct, aux: nonce, dstLen: 99}, ring.StatusNoSpace},
				{cryptoJob{op: a.open, key: a.key, src: ct, aux: nonce, dstLen: 100, param: 9}, ring.StatusInvalid},
				{cryptoJob{op: a.open, key: symmetricKeys(t).hmac, src: ct, aux: nonce, dstLen: 100}, ring.StatusNotPermitted},
				{cryptoJob{op: a.open, key: a.key, src: ct[:16], aux: nonce, dstLen: 0}, ring.StatusAuthFailed},
			} {
				cryptoWant(t, c.j, c.want)
			}
			// The empty message: a bare tag opens to nothing.
			tag := a.std.Seal(nil, nonce, nil, []byte("ad"))
			if out := cryptoWant(t, cryptoJob{op: a.open, key: a.key, src: tag, aux: append(cloneBytes(nonce), "ad"...)}, ring.StatusOK); len(out) != 0 {
				t.Fatalf("empty open wrote %d bytes", len(out))
			}
		})
	}
}

// Concurrent opens share the scratch pools; each must see its own plaintext.
func TestAEADConcurrent(t *testing.T) {
	a := aeadKinds(t)[0]
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				n := (g*977 + i*131) % 5000
				msg := bytes.Repeat([]byte{byte(g), byte(i)}, n/2)
				aux := randBytes(12)
				ct := a.std.Seal(nil, aux, msg, nil)
				dst := make([]byte, len(msg))
				r := op.Run(a.open, 0, a.key, ct, aux, dst)
				if r.Status != ring.StatusOK || !bytes.Equal(dst[:r.N], msg) {
					t.Errorf("goroutine %d job %d: %v", g, i, r.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestXTS(t *testing.T) {
	k := symmetricKeys(t)
	ref, err := xts.NewCipher(aes.NewCipher, k.xtsRaw)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{16, 32, 512, 4096} {
		for _, inPlace := range []bool{false, true} {
			pt := randBytes(n)
			unit := mrand.Uint64()
			aux := binary.LittleEndian.AppendUint64(nil, unit)
			want := make([]byte, n)
			ref.Encrypt(want, pt, unit)
			ct := cryptoWant(t, cryptoJob{op: ring.OpAESXTSEncrypt, key: k.xts, src: pt, aux: aux, dstLen: n, inPlace: inPlace}, ring.StatusOK)
			if !bytes.Equal(ct, want) {
				t.Fatalf("encrypt %d bytes: differs from x/crypto/xts", n)
			}
			back := cryptoWant(t, cryptoJob{op: ring.OpAESXTSDecrypt, key: k.xts, src: ct, aux: aux, dstLen: n + 5, inPlace: inPlace}, ring.StatusOK)
			if !bytes.Equal(back, pt) {
				t.Fatalf("decrypt %d bytes: wrong plaintext", n)
			}
		}
	}
	aux := make([]byte, 8)
	for _, c := range []struct {
		j    cryptoJob
		want ring.Status
	}{
		{cryptoJob{op: ring.OpAESXTSEncrypt, key: k.xts, src: make([]byte, 0), aux: aux, dstLen: 16}, ring.StatusInvalid},
		{cryptoJob{op: ring.OpAESXTSEncrypt, key: k.xts, src: make([]byte, 17), aux: aux, dstLen: 32}, ring.StatusInvalid},
		{cryptoJob{op: ring.OpAESXTSEncrypt, key: k.xts, src: make([]byte, 32), aux: aux[:7], dstLen: 32}, ring.StatusInvalid},
		{cryptoJob{op: ring.OpAESXTSEncrypt, key: k.xts, src: make([]byte, 32), aux: make([]byte, 16), dstLen: 32}, ring.StatusInvalid},
		{cryptoJob{op: ring.OpAESXTSEncrypt, key: k.xts, src: make([]byte, 32), aux: aux, dstLen: 31}, ring.StatusNoSpace},
		{cryptoJob{op: ring.OpAESXTSDecrypt, key: k.xts, src: make([]byte, 32), aux: aux, dstLen: 32, param: 2}, ring.StatusInvalid},
		{cryptoJob{op: ring.OpAESXTSDecrypt, key: k.aes256, src: make([]byte, 32), aux: aux, dstLen: 32}, ring.StatusNotPermitted},
	} {
		cryptoWant(t, c.j, c.want)
	}
}

// IEEE P1619/D16 Annex B, vector 10: AES-256-XTS, data unit 0xff, 512 bytes.
func TestXTSIEEE1619(t *testing.T) {
	key := mustKey(t, device.KeyAESXTS, wycheproof.MustHex("27182818284590452353602874713526624977572470936999595749669676273141592653589793238462643383279502884197169399375105820974944592"))
	pt := make([]byte, 512)
	for i := range pt {
		pt[i] = byte(i)
	}
	want := wycheproof.MustHex("1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b5d31e276f8fe4a8d66b317f9ac683f44680a86ac35adfc3345befecb4bb188fd" +
		"5776926c49a3095eb108fd1098baec70aaa66999a72a82f27d848b21d4a741b0c5cd4d5fff9dac89aeba122961d03a757123e9870f8acf1000020887891429ca" +
		"2a3e7a7d7df7b10355165c8b9a6d0a7de8b062c4500dc4cd120c0f7418dae3d0b5781c34803fa75421c790dfe1de1834f280d7667b327f6c8cd7557e12ac3a0f" +
		"93ec05c52e0493ef31a12d3d9260f79a289d6a379bc70c50841473d1a8cc81ec583e9645e07b8d9670655ba5bbcfecc6dc3966380ad8fecb17b6ba02469a020a" +
		"84e18e8f84252070c13e9f1f289be54fbc481457778f616015e1327a02b140f1505eb309326d68378f8374595c849d84f4c333ec4423885143cb47bd71c5edae" +
		"9be69a2ffeceb1bec9de244fbe15992b11b77c040f12bd8f6a975a44a0f90c29a9abc3d4d893927284c58754cce294529f8614dcd2aba991925fedc4ae74ffac" +
		"6e333b93eb4aff0479da9a410e4450e0dd7ae4c6e2910900575da401fc07059f645e8b7e9bfdef33943054ff84011493c27b3429eaedb4ed5376441a77ed4385" +
		"1ad77f16f541dfd269d50d6a5f14fb0aab1cbb4c1550be97f7ab4066193c4caa773dad38014bd2092fa755c824bb5e54c4f36ffda9fcea70b9c6e693e148c151")
	aux := binary.LittleEndian.AppendUint64(nil, 0xff)
	for _, inPlace := range []bool{false, true} {
		ct := cryptoWant(t, cryptoJob{op: ring.OpAESXTSEncrypt, key: key, src: pt, aux: aux, dstLen: 512, inPlace: inPlace}, ring.StatusOK)
		if !bytes.Equal(ct, want) {
			t.Fatalf("in place %v: ciphertext differs from IEEE 1619 vector 10", inPlace)
		}
		back := cryptoWant(t, cryptoJob{op: ring.OpAESXTSDecrypt, key: key, src: ct, aux: aux, dstLen: 512, inPlace: inPlace}, ring.StatusOK)
		if !bytes.Equal(back, pt) {
			t.Fatalf("in place %v: decryption differs", inPlace)
		}
	}
}

func TestSHA(t *testing.T) {
	abc := map[ring.Opcode]string{
		ring.OpSHA256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		ring.OpSHA384: "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
		ring.OpSHA512: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
	}
	sums := map[ring.Opcode]func([]byte) []byte{
		ring.OpSHA256: func(b []byte) []byte { s := sha256.Sum256(b); return s[:] },
		ring.OpSHA384: func(b []byte) []byte { s := sha512.Sum384(b); return s[:] },
		ring.OpSHA512: func(b []byte) []byte { s := sha512.Sum512(b); return s[:] },
	}
	for o, want := range abc {
		if got := cryptoWant(t, cryptoJob{op: o, src: []byte("abc"), dstLen: 64}, ring.StatusOK); hex.EncodeToString(got) != want {
			t.Errorf("%v(abc) = %x", o, got)
		}
		for _, n := range []int{0, 1, 55, 56, 64, 1000, 100000} {
			msg := randBytes(n)
			want := sums[o](msg)
			if got := cryptoWant(t, cryptoJob{op: o, src: msg, dstLen: len(want)}, ring.StatusOK); !bytes.Equal(got, want) {
				t.Errorf("%v of %d bytes differs from the standard library", o, n)
			}
			// In place: the digest overwrites the start of the message.
			if got := cryptoWant(t, cryptoJob{op: o, src: msg, dstLen: len(want), inPlace: true}, ring.StatusOK); !bytes.Equal(got, want) {
				t.Errorf("%v of %d bytes in place differs", o, n)
			}
		}
		size := len(sums[o](nil))
		cryptoWant(t, cryptoJob{op: o, src: []byte("x"), dstLen: size - 1}, ring.StatusNoSpace)
		cryptoWant(t, cryptoJob{op: o, src: []byte("x"), aux: []byte{0}, dstLen: size}, ring.StatusInvalid)
		cryptoWant(t, cryptoJob{op: o, src: []byte("x"), dstLen: size, param: 5}, ring.StatusInvalid)
		cryptoWant(t, cryptoJob{op: o, key: symmetricKeys(t).hmac, src: []byte("x"), dstLen: size}, ring.StatusInvalid)
	}
}

func TestHMAC(t *testing.T) {
	// RFC 4231 test case 2.
	jefe := mustKey(t, device.KeyHMAC, []byte("Jefe"))
	msg := []byte("what do ya want for nothing?")
	for o, want := range map[ring.Opcode]string{
		ring.OpHMACSHA256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		ring.OpHMACSHA512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
	} {
		for range 3 { // the second and third use pooled keyed state
			if got := cryptoWant(t, cryptoJob{op: o, key: jefe, src: msg, dstLen: 64}, ring.StatusOK); hex.EncodeToString(got) != want {
				t.Errorf("%v: got %x", o, got)
			}
		}
		size := len(want) / 2
		cryptoWant(t, cryptoJob{op: o, key: jefe, src: msg, dstLen: size - 1}, ring.StatusNoSpace)
		cryptoWant(t, cryptoJob{op: o, key: jefe, src: msg, aux: []byte{1}, dstLen: size}, ring.StatusInvalid)
		cryptoWant(t, cryptoJob{op: o, key: jefe, src: msg, dstLen: size, param: 5}, ring.StatusInvalid)
		cryptoWant(t, cryptoJob{op: o, src: msg, dstLen: size}, ring.StatusNotPermitted)
		cryptoWant(t, cryptoJob{op: o, key: symmetricKeys(t).aes128, src: msg, dstLen: size}, ring.StatusNotPermitted)
	}
	// A destroyed key is refused, and its pooled state with it.
	k := mustKey(t, device.KeyHMAC, []byte("short-lived"))
	cryptoWant(t, cryptoJob{op: ring.OpHMACSHA256, key: k, src: msg, dstLen: 32}, ring.StatusOK)
	k.Destroy()
	cryptoWant(t, cryptoJob{op: ring.OpHMACSHA256, key: k, src: msg, dstLen: 32}, ring.StatusNotPermitted)
}

// Many keys, many goroutines, pooled keyed state: every MAC must be that of its
// own key (run with -race).
func TestHMACConcurrentKeys(t *testing.T) {
	type kk struct {
		raw []byte
		key *device.Key
	}
	var keys []kk
	for i := range 8 {
		raw := randBytes(1 + i*23)
		keys = append(keys, kk{raw, mustKey(t, device.KeyHMAC, raw)})
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := keys[(g+i)%len(keys)]
				msg := []byte(fmt.Sprintf("message %d from %d", i, g))
				o, newH := ring.OpHMACSHA256, sha256.New
				if i%3 == 0 {
					o, newH = ring.OpHMACSHA512, sha512.New
				}
				m := hmac.New(newH, k.raw)
				m.Write(msg)
				want := m.Sum(nil)
				dst := make([]byte, 64)
				r := op.Run(o, 0, k.key, msg, nil, dst)
				if r.Status != ring.StatusOK || !bytes.Equal(dst[:r.N], want) {
					t.Errorf("goroutine %d: %v with key %d: wrong MAC", g, o, (g+i)%len(keys))
					return
				}
			}
		}()
	}
	wg.Wait()
	// Keys dropped by their owner are collected although the HMAC cache saw
	// them (it holds them weakly).
	collected := make(chan struct{})
	func() {
		k := mustKey(t, device.KeyHMAC, []byte("dropped"))
		runtime.AddCleanup(k, func(ch chan struct{}) { close(ch) }, collected)
		op.Run(ring.OpHMACSHA256, 0, k, []byte("x"), nil, make([]byte, 32))
	}()
	for range 20 {
		runtime.GC()
		select {
		case <-collected:
			return
		default:
			runtime.Gosched()
		}
	}
	select {
	case <-collected:
	default:
		t.Error("an HMAC key used once was never collected: the cache holds it")
	}
}

func TestCRC32C(t *testing.T) {
	tab := crc32.MakeTable(crc32.Castagnoli)
	r := cryptoRunOK(t, cryptoJob{op: ring.OpCRC32C, src: []byte("123456789")})
	if r.Aux != 0xe3069283 {
		t.Errorf("crc32c(123456789) = %#x, want 0xe3069283", r.Aux)
	}
	data := randBytes(10000)
	whole := cryptoRunOK(t, cryptoJob{op: ring.OpCRC32C, src: data}).Aux
	if whole != uint64(crc32.Checksum(data, tab)) {
		t.Error("crc32c differs from hash/crc32")
	}
	// Chaining: the CRC of the first part seeds the second.
	first := cryptoRunOK(t, cryptoJob{op: ring.OpCRC32C, src: data[:3333]}).Aux
	seed := binary.LittleEndian.AppendUint32(nil, uint32(first))
	if got := cryptoRunOK(t, cryptoJob{op: ring.OpCRC32C, src: data[3333:], aux: seed}).Aux; got != whole {
		t.Errorf("chained crc32c %#x, want %#x", got, whole)
	}
	if got := cryptoRunOK(t, cryptoJob{op: ring.OpCRC32C}).Aux; got != 0 {
		t.Errorf("crc32c of nothing = %#x", got)
	}
	cryptoWant(t, cryptoJob{op: ring.OpCRC32C, src: data, aux: seed[:3]}, ring.StatusInvalid)
	cryptoWant(t, cryptoJob{op: ring.OpCRC32C, src: data, aux: make([]byte, 8)}, ring.StatusInvalid)
	cryptoWant(t, cryptoJob{op: ring.OpCRC32C, src: data, dstLen: 4}, ring.StatusInvalid)
	cryptoWant(t, cryptoJob{op: ring.OpCRC32C, src: data, param: 1}, ring.StatusInvalid)
}

func cryptoRunOK(tb testing.TB, j cryptoJob) op.Result {
	tb.Helper()
	r, _ := cryptoRun(tb, j)
	if r.Status != ring.StatusOK || r.N != 0 {
		tb.Fatalf("%v: status %v N=%d", j, r.Status, r.N)
	}
	return r
}

// Every symmetric and asymmetric opcode is implemented, and all of them refuse a
// non-zero param where they take none.
func TestCatalogue(t *testing.T) {
	for _, o := range ring.Opcodes() {
		c, _ := o.Class()
		if c != ring.ClassSymmetric && c != ring.ClassAsymmetric {
			continue
		}
		if !op.Implemented(o) {
			t.Errorf("%v not implemented", o)
		}
	}
	k := allKeys(t)
	for _, v := range validJobs(t, k) {
		if v.job.op >= ring.OpRSASignPSS && v.job.op <= ring.OpRSADecryptOAEP {
			continue // param is the hash
		}
		j := v.job
		j.param = 1
		cryptoWant(t, j, ring.StatusInvalid)
	}
}

// Hostile inputs: start from a valid job for each opcode and mutate it at random
// (key, param, lengths, contents, in place). cryptoRun checks that no input
// panics, and that nothing is written outside dst, or at all on failure.
func TestHostileInputs(t *testing.T) {
	k := allKeys(t)
	iters := 300
	if testing.Short() {
		iters = 100
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	for _, v := range validJobs(t, k) {
		t.Run(v.name, func(t *testing.T) {
			// The unmutated job succeeds.
			cryptoWant(t, v.job, ring.StatusOK)
			statuses := map[ring.Status]int{}
			for range iters {
				j := mutate(r, v.job, k)
				res, _ := cryptoRun(t, j)
				statuses[res.Status]++
				if t.Failed() {
					t.Fatalf("failing job: %v", j)
				}
			}
			t.Logf("%v", statuses)
		})
	}
}

var hostileLens = []int{0, 1, 4, 7, 8, 11, 12, 13, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65,
	71, 72, 73, 96, 97, 103, 104, 255, 256, 257, 512, 4096}

func hostileLen(r *mrand.Rand, n int) int {
	switch r.IntN(4) {
	case 0:
		return hostileLens[r.IntN(len(hostileLens))]
	case 1:
		return max(0, n+r.IntN(5)-2)
	case 2:
		return r.IntN(2*n + 2)
	}
	return r.IntN(600)
}

func resize(r *mrand.Rand, b []byte, n int) []byte {
	out := make([]byte, n)
	copy(out, b)
	if n > len(b) {
		for i := len(b); i < n; i++ {
			out[i] = byte(r.Uint32())
		}
	}
	return out
}

func mutate(r *mrand.Rand, j cryptoJob, k *testKeys) cryptoJob {
	j.src, j.aux = cloneBytes(j.src), cloneBytes(j.aux)
	for range 1 + r.IntN(3) {
		switch r.IntN(9) {
		case 0:
			j.key = k.all[r.IntN(len(k.all))] // nil included
		case 1:
			params := []uint16{0, 1, 2, 3, 5, 6, 7, 8, 15, 0xffff, uint16(r.Uint32())}
			j.param = params[r.IntN(len(params))]
		case 2:
			j.src = resize(r, j.src, hostileLen(r, len(j.src)))
		case 3:
			j.aux = resize(r, j.aux, hostileLen(r, len(j.aux)))
		case 4:
			j.dstLen = hostileLen(r, j.dstLen)
		case 5:
			if len(j.src) > 0 {
				j.src[r.IntN(len(j.src))] ^= byte(1 + r.IntN(255))
			}
		case 6:
			if len(j.aux) > 0 {
				j.aux[r.IntN(len(j.aux))] ^= byte(1 + r.IntN(255))
			}
		case 7:
			j.inPlace = !j.inPlace
		case 8:
			// Truncate or extend everything at once.
			j.src = resize(r, j.src, r.IntN(len(j.src)+2))
			j.aux = resize(r, j.aux, r.IntN(len(j.aux)+2))
			j.dstLen = r.IntN(j.dstLen + 2)
		}
	}
	return j
}

// FuzzRun feeds arbitrary jobs to every crypto opcode with each test key.
func FuzzRun(f *testing.F) {
	k := allKeys(f)
	jobs := validJobs(f, k)
	for i, v := range jobs {
		f.Add(uint8(i), uint8(keyIndex(k, v.job.key)), v.job.param, v.job.src, v.job.aux, uint16(v.job.dstLen), v.job.inPlace)
	}
	f.Fuzz(func(t *testing.T, opIdx, keyIdx uint8, param uint16, src, aux []byte, dstLen uint16, inPlace bool) {
		j := cryptoJob{op: jobs[int(opIdx)%len(jobs)].job.op, param: param, key: k.all[int(keyIdx)%len(k.all)],
			src: src, aux: aux, dstLen: int(dstLen) % 8192, inPlace: inPlace}
		cryptoRun(t, j)
	})
}

func keyIndex(k *testKeys, key *device.Key) int {
	for i, x := range k.all {
		if x == key {
			return i
		}
	}
	return 0
}

// BenchmarkOp measures op.Run per opcode and size, as the simulator's engines
// and the software fallback run it.
func BenchmarkOp(b *testing.B) {
	k := allKeys(b)
	s := symmetricKeys(b)
	bench := func(name string, size int, j cryptoJob) {
		b.Run(name, func(b *testing.B) {
			src, aux, dst := cloneBytes(j.src), cloneBytes(j.aux), make([]byte, j.dstLen)
			if r := op.Run(j.op, j.param, j.key, src, aux, dst); r.Status != ring.StatusOK {
				b.Fatalf("%v: %v", j, r.Status)
			}
			if size > 0 {
				b.SetBytes(int64(size))
			}
			b.ReportAllocs()
			for b.Loop() {
				op.Run(j.op, j.param, j.key, src, aux, dst)
			}
		})
	}
	nonce := randBytes(12)
	for _, n := range []int{64, 1024, 16384} {
		bench(fmt.Sprintf("aes-gcm-seal/%s", sizeName(n)), n,
			cryptoJob{op: ring.OpAESGCMSeal, key: s.aes128, src: randBytes(n), aux: nonce, dstLen: n + 16})
	}
	{
		n := 16384
		a := aeadKinds(b)[0]
		bench("aes-gcm-open/16KiB", n, cryptoJob{op: ring.OpAESGCMOpen, key: s.aes128,
			src: a.std.Seal(nil, nonce, randBytes(n), nil), aux: nonce, dstLen: n})
	}
	bench("chacha20-poly1305-seal/16KiB", 16384,
		cryptoJob{op: ring.OpChaCha20Poly1305Seal, key: s.chacha, src: randBytes(16384), aux: nonce, dstLen: 16384 + 16})
	bench("aes-xts-encrypt/4KiB", 4096,
		cryptoJob{op: ring.OpAESXTSEncrypt, key: s.xts, src: randBytes(4096), aux: make([]byte, 8), dstLen: 4096})
	for _, n := range []int{64, 16384} {
		bench(fmt.Sprintf("sha256/%s", sizeName(n)), n, cryptoJob{op: ring.OpSHA256, src: randBytes(n), dstLen: 32})
	}
	bench("sha512/16KiB", 16384, cryptoJob{op: ring.OpSHA512, src: randBytes(16384), dstLen: 64})
	bench("hmac-sha256/64B", 64, cryptoJob{op: ring.OpHMACSHA256, key: s.hmac, src: randBytes(64), dstLen: 32})
	b.Run("hmac-sha256-new-each-time/64B", func(b *testing.B) { // reference: no keyed-state reuse
		msg, dst := randBytes(64), make([]byte, 32)
		b.SetBytes(64)
		b.ReportAllocs()
		for b.Loop() {
			m := hmac.New(sha256.New, s.hmacRaw)
			m.Write(msg)
			m.Sum(dst[:0])
		}
	})
	bench("crc32c/16KiB", 16384, cryptoJob{op: ring.OpCRC32C, src: randBytes(16384)})
	for _, v := range validJobs(b, k) {
		switch v.job.op {
		case ring.OpEd25519Sign, ring.OpEd25519Verify, ring.OpX25519, ring.OpRSASignPSS, ring.OpRSAVerifyPSS,
			ring.OpRSASignPKCS1v15, ring.OpRSADecryptOAEP, ring.OpECDH:
			bench(v.name, 0, v.job)
		case ring.OpECDSASign, ring.OpECDSAVerify:
			bench(v.name, 0, v.job)
		}
	}
}

func sizeName(n int) string {
	if n >= 1024 {
		return fmt.Sprintf("%dKiB", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}
