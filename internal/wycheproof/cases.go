package wycheproof

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ed25519"
	_ "crypto/sha256" // hashes named by the vector files
	_ "crypto/sha512"
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// Expect says how the outcome of a Case is judged.
type Expect uint8

const (
	// ExpectOutput: StatusOK, and the output (dst[:N]) equals Want; Want is empty
	// for a verification, which writes nothing.
	ExpectOutput Expect = iota
	// ExpectFailure: the job fails with Status and writes nothing (N = 0, dst
	// untouched).
	ExpectFailure
	// ExpectMismatch: StatusOK, and the output differs from Want. accelq computes
	// MACs, it does not compare them: a MAC vector with a forged tag passes when
	// the computed MAC is not the forged one, so the caller's comparison rejects it.
	ExpectMismatch
)

func (e Expect) String() string {
	switch e {
	case ExpectOutput:
		return "output"
	case ExpectFailure:
		return "failure"
	case ExpectMismatch:
		return "mismatch"
	}
	return fmt.Sprintf("expect(%d)", uint8(e))
}

// Case is one accelq job derived from a Wycheproof vector, and the outcome the
// vector demands. A vector may yield several cases (an AEAD vector a seal and an
// open; an Ed25519 vector a verification and, when valid, a signature). Cases
// share their byte slices with each other: an executor copies Key, Src and Aux
// into its own (registered) memory and never writes to them.
type Case struct {
	File    string   // vector file, such as "aes_gcm_test.json"
	TcID    int      // the vector's tcId
	Comment string   // the vector's comment
	Flags   []string // the vector's flags
	Result  string   // the vector's verdict: Valid, Invalid or Acceptable
	// Why says, for an Acceptable vector and for a vector turned into a refusal,
	// which way accelq goes and why.
	Why string

	Op      ring.Opcode
	KeyKind device.KeyKind // 0 for none
	Key     []byte         // material for device.ParseKey(KeyKind, Key)
	Param   uint16
	Src     []byte
	Aux     []byte
	DstLen  int // destination capacity to give the job

	Expect Expect
	Status ring.Status // for ExpectFailure
	Want   []byte      // for ExpectOutput and ExpectMismatch
	// Prefix: Want is a truncated MAC, compared with the first len(Want) bytes of
	// the output.
	Prefix bool
}

// Name identifies the case in test output: file, tcId and operation.
func (c *Case) Name() string {
	return fmt.Sprintf("%s/tc%d/%v", strings.TrimSuffix(c.File, "_test.json"), c.TcID, c.Op)
}

// Check judges an outcome: the job's status and its output dst[:N].
func (c *Case) Check(st ring.Status, out []byte) error {
	switch c.Expect {
	case ExpectFailure:
		if st != c.Status || len(out) != 0 {
			return fmt.Errorf("%s (%s): got status %v with %d bytes, want %v and nothing written",
				c.Name(), c.Result, st, len(out), c.Status)
		}
		return nil
	case ExpectOutput, ExpectMismatch:
		if st != ring.StatusOK {
			return fmt.Errorf("%s (%s): got status %v, want ok", c.Name(), c.Result, st)
		}
		got := out
		if c.Prefix && len(got) > len(c.Want) {
			got = got[:len(c.Want)]
		}
		equal := bytes.Equal(got, c.Want)
		if c.Expect == ExpectOutput && !equal {
			return fmt.Errorf("%s (%s): output %x, want %x", c.Name(), c.Result, out, c.Want)
		}
		if c.Expect == ExpectMismatch && equal {
			return fmt.Errorf("%s (%s): output %x equals the forged value", c.Name(), c.Result, out)
		}
		return nil
	}
	return fmt.Errorf("%s: unknown expectation %v", c.Name(), c.Expect)
}

// Suite is the accelq cases of one vector file.
type Suite struct {
	File    string
	Vectors int            // vectors in the file
	Used    int            // vectors that yielded at least one case
	Skipped map[string]int // vectors that yielded none, by reason
	Cases   []Case
}

// SkippedTotal is the number of vectors that yielded no case.
func (s *Suite) SkippedTotal() int {
	n := 0
	for _, k := range s.Skipped {
		n += k
	}
	return n
}

// SkipSummary lists the skip reasons with their counts, most frequent first.
func (s *Suite) SkipSummary() string {
	type rc struct {
		r string
		n int
	}
	var l []rc
	for r, n := range s.Skipped {
		l = append(l, rc{r, n})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].n > l[j].n || l[i].n == l[j].n && l[i].r < l[j].r })
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%d %s", e.n, e.r)
	}
	return b.String()
}

func newSuite(file string) *Suite { return &Suite{File: file, Skipped: map[string]int{}} }

func (s *Suite) skip(reason string) { s.Vectors++; s.Skipped[reason]++ }

func (s *Suite) use(cs ...Case) {
	s.Vectors++
	s.Used++
	for _, c := range cs {
		c.File = s.File
		s.Cases = append(s.Cases, c)
	}
}

// Files lists the vector files Cases knows.
var Files = []string{
	"aes_gcm_test.json",
	"chacha20_poly1305_test.json",
	"hmac_sha256_test.json",
	"eddsa_test.json",
	"ecdsa_secp256r1_sha256_test.json",
	"rsa_pss_2048_sha256_mgf1_32_test.json",
	"x25519_test.json",
}

// Cases loads a vector file and normalises it into accelq cases. It knows the
// files in Files and, by their name patterns, others of the same schemas:
// hmac_sha{256,512}_test.json, ecdsa_*_test.json in DER (not _p1363),
// rsa_pss_*_test.json.
func Cases(file string) (*Suite, error) {
	switch {
	case file == "aes_gcm_test.json":
		return aeadCases(file, ring.OpAESGCMSeal, ring.OpAESGCMOpen, device.KeyAES, 16, 32)
	case file == "chacha20_poly1305_test.json":
		return aeadCases(file, ring.OpChaCha20Poly1305Seal, ring.OpChaCha20Poly1305Open, device.KeyChaCha20Poly1305, 32)
	case file == "hmac_sha256_test.json":
		return macCases(file, ring.OpHMACSHA256, 32)
	case file == "hmac_sha512_test.json":
		return macCases(file, ring.OpHMACSHA512, 64)
	case file == "eddsa_test.json":
		return eddsaCases(file)
	case file == "x25519_test.json":
		return x25519Cases(file)
	case strings.HasPrefix(file, "ecdsa_") && !strings.Contains(file, "p1363") && !strings.Contains(file, "webcrypto"):
		return ecdsaCases(file)
	case strings.HasPrefix(file, "rsa_pss_"):
		return rsaPSSCases(file)
	}
	return nil, fmt.Errorf("wycheproof: no accelq cases for %s", file)
}

const (
	aeadNonce = 12
	aeadTag   = 16
)

// aeadCases: a valid vector yields a seal (output ct||tag) and an open (output
// msg); an invalid one an open that must fail authentication. Aux is the 12-byte
// nonce followed by the AAD. A vector whose IV is shorter than 12 bytes, with no
// AAD, yields a seal and an open with Aux = IV, both refused with StatusInvalid:
// accelq has no way to express a short nonce and refuses what it cannot express
// (Wycheproof marks these IVs invalid or acceptable, never mandatory). IVs longer
// than 12 bytes, or short ones with AAD, would be read as nonce||AAD and are
// skipped, as are key and tag sizes accelq does not offer.
func aeadCases(file string, seal, open ring.Opcode, kind device.KeyKind, keySizes ...int) (*Suite, error) {
	var f AEADFile
	if err := Load(file, &f); err != nil {
		return nil, err
	}
	s := newSuite(file)
	for _, g := range f.TestGroups {
		for _, t := range g.Tests {
			base := Case{TcID: t.TcID, Comment: t.Comment, Flags: t.Flags, Result: t.Result,
				KeyKind: kind, Key: t.Key}
			switch {
			case !slices.Contains(keySizes, len(t.Key)):
				s.skip(fmt.Sprintf("%d-bit key (not importable)", 8*len(t.Key)))
			case len(t.IV) < aeadNonce && len(t.AAD) == 0:
				refuse := base
				refuse.Aux = t.IV
				refuse.Expect, refuse.Status = ExpectFailure, ring.StatusInvalid
				refuse.Why = "refused: accelq nonces are 12 bytes, a shorter aux is StatusInvalid"
				sc, oc := refuse, refuse
				sc.Op, sc.Src, sc.DstLen = seal, t.Msg, len(t.Msg)+aeadTag
				oc.Op, oc.Src, oc.DstLen = open, concat(t.CT, t.Tag), len(t.CT)
				s.use(sc, oc)
			case len(t.IV) > aeadNonce:
				s.skip("IV longer than 12 bytes (would be read as nonce||AAD)")
			case len(t.IV) < aeadNonce:
				s.skip("IV shorter than 12 bytes, with AAD (would be read as nonce||AAD)")
			case g.TagSize != 8*aeadTag || len(t.Tag) != aeadTag:
				s.skip(fmt.Sprintf("%d-bit tag (accelq tags are 128 bits)", 8*len(t.Tag)))
			case t.Result == Valid:
				aux := concat(t.IV, t.AAD)
				sc, oc := base, base
				sc.Op, sc.Src, sc.Aux, sc.DstLen = seal, t.Msg, aux, len(t.Msg)+aeadTag
				sc.Expect, sc.Want = ExpectOutput, concat(t.CT, t.Tag)
				oc.Op, oc.Src, oc.Aux, oc.DstLen = open, concat(t.CT, t.Tag), aux, len(t.CT)
				oc.Expect, oc.Want = ExpectOutput, t.Msg
				s.use(sc, oc)
			case t.Result == Invalid:
				oc := base
				oc.Op, oc.Src, oc.Aux, oc.DstLen = open, concat(t.CT, t.Tag), concat(t.IV, t.AAD), len(t.CT)
				oc.Expect, oc.Status = ExpectFailure, ring.StatusAuthFailed
				s.use(oc)
			default:
				s.skip("acceptable with a 12-byte IV (no rule for it)")
			}
		}
	}
	return s, nil
}

// macCases: the MAC is computed; a valid vector's tag must be its prefix (tags
// shorter than the hash are truncated MACs, RFC 2104 section 5), an invalid
// vector's (forged) tag must not be.
func macCases(file string, op ring.Opcode, size int) (*Suite, error) {
	var f MACFile
	if err := Load(file, &f); err != nil {
		return nil, err
	}
	s := newSuite(file)
	for _, g := range f.TestGroups {
		for _, t := range g.Tests {
			c := Case{TcID: t.TcID, Comment: t.Comment, Flags: t.Flags, Result: t.Result,
				Op: op, KeyKind: device.KeyHMAC, Key: t.Key, Src: t.Msg, DstLen: size,
				Want: t.Tag, Prefix: len(t.Tag) < size}
			switch {
			case len(t.Key) == 0 || len(t.Key) > device.MaxHMACKeyLen:
				s.skip(fmt.Sprintf("%d-byte key (not importable)", len(t.Key)))
				continue
			case len(t.Tag) == 0 || len(t.Tag) > size:
				s.skip(fmt.Sprintf("%d-byte tag", len(t.Tag)))
				continue
			case t.Result == Valid:
				c.Expect = ExpectOutput
			case t.Result == Invalid:
				c.Expect = ExpectMismatch
			default:
				s.skip("acceptable (no rule for it)")
				continue
			}
			s.use(c)
		}
	}
	return s, nil
}

// Signatures that do not verify, malformed ones included, are StatusAuthFailed.
func verifyCase(t SignatureTest, op ring.Opcode, kind device.KeyKind, key []byte, param uint16, src []byte) Case {
	c := Case{TcID: t.TcID, Comment: t.Comment, Flags: t.Flags, Result: t.Result,
		Op: op, KeyKind: kind, Key: key, Param: param, Src: src, Aux: t.Sig}
	if t.Result == Valid {
		c.Expect, c.Want = ExpectOutput, []byte{}
	} else {
		c.Expect, c.Status = ExpectFailure, ring.StatusAuthFailed
	}
	return c
}

// eddsaCases: every vector yields a verification with the PKIX public key; a
// valid one also a signature with the PKCS #8 private key, which must reproduce
// the vector's signature (Ed25519 is deterministic).
func eddsaCases(file string) (*Suite, error) {
	var f EdDSAFile
	if err := Load(file, &f); err != nil {
		return nil, err
	}
	s := newSuite(file)
	for _, g := range f.TestGroups {
		var pub, priv []byte
		var reason string
		if g.Key.Curve != "edwards25519" || len(g.Key.PK) != ed25519.PublicKeySize {
			reason = "key not Ed25519"
		} else {
			pub, reason = importable(device.KeyPublic, func() (any, error) {
				return x509.MarshalPKIXPublicKey(ed25519.PublicKey(g.Key.PK))
			})
		}
		if len(g.Key.SK) == ed25519.SeedSize {
			k := ed25519.NewKeyFromSeed(g.Key.SK)
			if bytes.Equal(k.Public().(ed25519.PublicKey), g.Key.PK) {
				priv, _ = importable(device.KeyPrivate, func() (any, error) { return x509.MarshalPKCS8PrivateKey(k) })
			}
		}
		for _, t := range g.Tests {
			if pub == nil {
				s.skip(reason)
				continue
			}
			if t.Result == Acceptable {
				s.skip("acceptable (no rule for it)")
				continue
			}
			cs := []Case{verifyCase(t, ring.OpEd25519Verify, device.KeyPublic, pub, 0, t.Msg)}
			if t.Result == Valid && priv != nil {
				cs = append(cs, Case{TcID: t.TcID, Comment: t.Comment, Flags: t.Flags, Result: t.Result,
					Op: ring.OpEd25519Sign, KeyKind: device.KeyPrivate, Key: priv, Src: t.Msg,
					DstLen: ed25519.SignatureSize, Expect: ExpectOutput, Want: t.Sig})
			}
			s.use(cs...)
		}
	}
	return s, nil
}

// ecdsaCases: the message is hashed with the group's hash (src = digest) and the
// DER signature verified with the PKIX public key. The one Acceptable kind in the
// DER files, "MissingZero" (an INTEGER without its leading zero, so negative in
// DER), is refused: accelq takes strict DER only (crypto/ecdsa.VerifyASN1), so
// that a signature has one encoding.
func ecdsaCases(file string) (*Suite, error) {
	var f ECDSAFile
	if err := Load(file, &f); err != nil {
		return nil, err
	}
	s := newSuite(file)
	for _, g := range f.TestGroups {
		h, hashOK := hashByName(g.SHA)
		key, reason := importable(device.KeyPublic, func() (any, error) { return []byte(g.KeyDER), nil })
		if !hashOK || h.Size() < 32 {
			key, reason = nil, "hash "+g.SHA
		}
		for _, t := range g.Tests {
			if key == nil {
				s.skip(reason)
				continue
			}
			c := verifyCase(t, ring.OpECDSAVerify, device.KeyPublic, key, 0, digest(h, t.Msg))
			if t.Result == Acceptable {
				if !slices.Equal(t.Flags, []string{"MissingZero"}) {
					s.skip("acceptable with flags " + strings.Join(t.Flags, ","))
					continue
				}
				c.Expect, c.Status = ExpectFailure, ring.StatusAuthFailed
				c.Why = "refused: not DER (an INTEGER lacks its leading zero); accelq takes strict DER only"
			}
			s.use(c)
		}
	}
	return s, nil
}

// rsaPSSCases: verification with the PKIX public key, param = the hash, src =
// hash(msg). accelq's PSS uses MGF1 with the message hash and a salt as long as
// the hash; other groups are skipped.
func rsaPSSCases(file string) (*Suite, error) {
	var f RSAPSSFile
	if err := Load(file, &f); err != nil {
		return nil, err
	}
	s := newSuite(file)
	for _, g := range f.TestGroups {
		h, hashOK := hashByName(g.SHA)
		key, reason := importable(device.KeyPublic, func() (any, error) { return []byte(g.KeyDER), nil })
		switch {
		case !hashOK || h.Size() < 32:
			key, reason = nil, "hash "+g.SHA
		case g.MGF != "MGF1" || g.MGFSHA != g.SHA:
			key, reason = nil, fmt.Sprintf("%s with %s (accelq: MGF1 with the message hash)", g.MGF, g.MGFSHA)
		case g.SLen != h.Size():
			key, reason = nil, fmt.Sprintf("salt length %d (accelq: the hash length)", g.SLen)
		}
		for _, t := range g.Tests {
			if key == nil {
				s.skip(reason)
				continue
			}
			if t.Result == Acceptable {
				s.skip("acceptable (no rule for it)")
				continue
			}
			s.use(verifyCase(t, ring.OpRSAVerifyPSS, device.KeyPublic, key, uint16(h), digest(h, t.Msg)))
		}
	}
	return s, nil
}

// x25519Cases: the private key is imported as PKCS #8, the peer's public key is
// Aux, the shared secret the output. Of the Acceptable vectors, those whose shared
// secret is all zeroes (a low-order peer point: flag ZeroSharedSecret) are refused
// with StatusInvalid, the check of RFC 7748 section 6.1 that crypto/ecdh makes; the
// others (points on the twist, non-canonical encodings) are computed as RFC 7748
// defines, and must give the vector's secret.
func x25519Cases(file string) (*Suite, error) {
	var f XDHFile
	if err := Load(file, &f); err != nil {
		return nil, err
	}
	s := newSuite(file)
	zero := make([]byte, 32)
	for _, g := range f.TestGroups {
		for _, t := range g.Tests {
			if g.Curve != "curve25519" {
				s.skip("curve " + g.Curve)
				continue
			}
			key, reason := importable(device.KeyPrivate, func() (any, error) {
				k, err := ecdh.X25519().NewPrivateKey(t.Private)
				if err != nil {
					return nil, err
				}
				return x509.MarshalPKCS8PrivateKey(k)
			})
			if key == nil {
				s.skip(reason)
				continue
			}
			c := Case{TcID: t.TcID, Comment: t.Comment, Flags: t.Flags, Result: t.Result,
				Op: ring.OpX25519, KeyKind: device.KeyPrivate, Key: key, Aux: t.Public, DstLen: 32}
			switch {
			case t.Result == Invalid:
				c.Expect, c.Status = ExpectFailure, ring.StatusInvalid
			case bytes.Equal(t.Shared, zero):
				c.Expect, c.Status = ExpectFailure, ring.StatusInvalid
				c.Why = "refused: all-zero shared secret (low-order point), RFC 7748 section 6.1"
			default:
				c.Expect, c.Want = ExpectOutput, t.Shared
				if t.Result == Acceptable {
					c.Why = "computed: RFC 7748 defines X25519 on the twist and for non-canonical inputs"
				}
			}
			s.use(c)
		}
	}
	return s, nil
}

// importable builds key material and checks that device.ParseKey takes it; it
// returns the material, or nil and why not.
func importable(kind device.KeyKind, build func() (any, error)) ([]byte, string) {
	v, err := build()
	if err != nil {
		return nil, "key not encodable: " + err.Error()
	}
	der := v.([]byte)
	k, err := device.ParseKey(kind, der)
	if err != nil {
		return nil, "key not importable: " + err.Error()
	}
	k.Destroy()
	return der, ""
}

func hashByName(name string) (crypto.Hash, bool) {
	switch name {
	case "SHA-256":
		return crypto.SHA256, true
	case "SHA-384":
		return crypto.SHA384, true
	case "SHA-512":
		return crypto.SHA512, true
	}
	return 0, false
}

func digest(h crypto.Hash, msg []byte) []byte {
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

func concat(a, b []byte) []byte { return append(append(make([]byte, 0, len(a)+len(b)), a...), b...) }
