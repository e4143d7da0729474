// Package wycheproof loads Project Wycheproof test vectors
// (github.com/google/wycheproof) from the Go module cache and turns them into
// executor-neutral accelq cases (see Case): the operation, the key to import, the
// buffers, and the result the vector demands. internal/op runs the cases through
// op.Run; the device tests run the same cases through the rings.
//
// An executor runs each Case of Cases(file) for every file in Files: it imports
// c.Key as c.KeyKind (none when KeyKind is 0), copies c.Src and c.Aux into its
// own buffers, gives the job a destination of c.DstLen bytes and param c.Param,
// and judges the outcome with c.Check(status, dst[:N]). Suite counts what was
// skipped and why, for the executor to log.
//
// The vectors are not vendored: Dir fetches the pinned module version with
// `go mod download`, which the module proxy serves (and the module cache keeps).
package wycheproof

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Module is the pinned Wycheproof version: the last one with the v0 JSON layout
// (testvectors/*.json) that these types describe.
const Module = "github.com/google/wycheproof@v0.0.0-20191219022705-2196000605e4"

var dir struct {
	once sync.Once
	path string
	err  error
}

// Dir returns the testvectors directory of the pinned Wycheproof module,
// downloading the module on first use. It runs the go command found in PATH once
// per process and caches the result, error included.
func Dir() (string, error) {
	dir.once.Do(func() { dir.path, dir.err = download() })
	return dir.path, dir.err
}

func download() (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("wycheproof: go command not found: %w", err)
	}
	cmd := exec.Command(gobin, "mod", "download", "-json", Module)
	// Outside any module, so go.mod and go.sum of the caller are never touched.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Error != "" || info.Dir == "" {
		msg := info.Error
		if msg == "" {
			msg = stderr.String()
		}
		if msg == "" && runErr != nil {
			msg = runErr.Error()
		}
		return "", fmt.Errorf("wycheproof: go mod download %s: %s", Module, msg)
	}
	tv := filepath.Join(info.Dir, "testvectors")
	if _, err := os.Stat(tv); err != nil {
		return "", fmt.Errorf("wycheproof: %w", err)
	}
	return tv, nil
}

// Require returns Dir for a test. When the vectors cannot be had, the test is
// skipped with the reason, unless the environment variable CI is set: in CI a
// missing download is a failure, never a silent skip.
func Require(tb testing.TB) string {
	tb.Helper()
	d, err := Dir()
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("Wycheproof vectors unavailable under CI: %v", err)
		}
		tb.Skipf("Wycheproof vectors unavailable (set CI=1 to make this fatal): %v", err)
	}
	return d
}

// HexBytes is a byte string written in hex in the JSON.
type HexBytes []byte

// UnmarshalJSON decodes a JSON hex string.
func (h *HexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("wycheproof: bad hex %q: %w", s, err)
	}
	*h = v
	return nil
}

// MustHex decodes hex and panics on malformed input; for literals in tests.
func MustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Header is what every vector file starts with.
type Header struct {
	Algorithm        string            `json:"algorithm"`
	GeneratorVersion string            `json:"generatorVersion"`
	NumberOfTests    int               `json:"numberOfTests"`
	Notes            map[string]string `json:"notes"`
	Schema           string            `json:"schema"`
}

// Test is what every test vector has.
type Test struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Result  string   `json:"result"` // "valid", "invalid" or "acceptable"
	Flags   []string `json:"flags"`
}

// Results of a vector.
const (
	Valid      = "valid"
	Invalid    = "invalid"
	Acceptable = "acceptable"
)

// AEADFile is aead_test_schema.json: aes_gcm_test.json, chacha20_poly1305_test.json.
type AEADFile struct {
	Header
	TestGroups []struct {
		IVSize  int    `json:"ivSize"`  // bits
		KeySize int    `json:"keySize"` // bits
		TagSize int    `json:"tagSize"` // bits
		Type    string `json:"type"`
		Tests   []struct {
			Test
			Key HexBytes `json:"key"`
			IV  HexBytes `json:"iv"`
			AAD HexBytes `json:"aad"`
			Msg HexBytes `json:"msg"`
			CT  HexBytes `json:"ct"`
			Tag HexBytes `json:"tag"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// MACFile is mac_test_schema.json: hmac_*_test.json.
type MACFile struct {
	Header
	TestGroups []struct {
		KeySize int    `json:"keySize"` // bits
		TagSize int    `json:"tagSize"` // bits
		Type    string `json:"type"`
		Tests   []struct {
			Test
			Key HexBytes `json:"key"`
			Msg HexBytes `json:"msg"`
			Tag HexBytes `json:"tag"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// SignatureTest is a signature verification vector.
type SignatureTest struct {
	Test
	Msg HexBytes `json:"msg"`
	Sig HexBytes `json:"sig"`
}

// EdDSAFile is eddsa_verify_schema.json: eddsa_test.json.
type EdDSAFile struct {
	Header
	TestGroups []struct {
		Key struct {
			Curve   string   `json:"curve"`
			KeySize int      `json:"keySize"`
			PK      HexBytes `json:"pk"` // raw 32-byte public key
			SK      HexBytes `json:"sk"` // raw 32-byte seed
			Type    string   `json:"type"`
		} `json:"key"`
		KeyDER HexBytes        `json:"keyDer"`
		KeyPEM string          `json:"keyPem"`
		Type   string          `json:"type"`
		Tests  []SignatureTest `json:"tests"`
	} `json:"testGroups"`
}

// ECDSAFile is ecdsa_verify_schema.json: ecdsa_*_test.json (DER signatures).
type ECDSAFile struct {
	Header
	TestGroups []struct {
		Key struct {
			Curve        string   `json:"curve"`
			KeySize      int      `json:"keySize"`
			Type         string   `json:"type"`
			Uncompressed HexBytes `json:"uncompressed"`
			WX           HexBytes `json:"wx"`
			WY           HexBytes `json:"wy"`
		} `json:"key"`
		KeyDER HexBytes        `json:"keyDer"` // PKIX SubjectPublicKeyInfo
		KeyPEM string          `json:"keyPem"`
		SHA    string          `json:"sha"`
		Type   string          `json:"type"`
		Tests  []SignatureTest `json:"tests"`
	} `json:"testGroups"`
}

// RSAPSSFile is rsassa_pss_verify_schema.json: rsa_pss_*_test.json.
type RSAPSSFile struct {
	Header
	TestGroups []struct {
		E       HexBytes        `json:"e"`
		N       HexBytes        `json:"n"`
		KeyASN  HexBytes        `json:"keyAsn"` // PKCS #1 RSAPublicKey
		KeyDER  HexBytes        `json:"keyDer"` // PKIX SubjectPublicKeyInfo
		KeyPEM  string          `json:"keyPem"`
		KeySize int             `json:"keysize"`
		MGF     string          `json:"mgf"`
		MGFSHA  string          `json:"mgfSha"`
		SLen    int             `json:"sLen"`
		SHA     string          `json:"sha"`
		Type    string          `json:"type"`
		Tests   []SignatureTest `json:"tests"`
	} `json:"testGroups"`
}

// XDHFile is xdh_comp_schema.json: x25519_test.json.
type XDHFile struct {
	Header
	TestGroups []struct {
		Curve string `json:"curve"`
		Type  string `json:"type"`
		Tests []struct {
			Test
			Public  HexBytes `json:"public"`
			Private HexBytes `json:"private"`
			Shared  HexBytes `json:"shared"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// Load reads the vector file name (such as "aes_gcm_test.json") into v, one of
// the *File types of this package.
func Load(name string, v any) error {
	d, err := Dir()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(d, name))
	if err != nil {
		return fmt.Errorf("wycheproof: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("wycheproof: %s: %w", name, err)
	}
	return nil
}
