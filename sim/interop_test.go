package sim

// Outputs of the device read by the standard tools, completions signalled through
// an eventfd the client armed, and the host-limited accounting.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required under CI: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
}

func TestCompressedByDeviceReadByTools(t *testing.T) {
	for _, tc := range []struct {
		op   ring.Opcode
		tool string
	}{{ring.OpGzipCompress, "gzip"}, {ring.OpZstdCompress, "zstd"}} {
		needTool(t, tc.tool)
		h := newHarness(t, startDevice(t, "qat-gen4"), 8, nil)
		data := bytes.Repeat([]byte("accelq compresses through shared rings. "), 5000)
		in, inMem := h.region(len(data), false)
		copy(inMem, data)
		out, outMem := h.region(len(data), true)
		c := h.run(ring.SQE{Opcode: tc.op, Param: 6, Src: ref(in, 0, len(data)), Dst: ref(out, 0, len(data))})
		if c.Status != ring.StatusOK {
			t.Fatalf("%v: %v", tc.op, c.Status)
		}
		cmd := exec.Command(tc.tool, "-dc")
		cmd.Stdin = bytes.NewReader(outMem[:c.Result])
		got, err := cmd.Output()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s -dc of the device's output: %v (%d bytes, want %d)", tc.tool, err, len(got), len(data))
		}
	}
}

func TestCQEventFD(t *testing.T) {
	efd, err := ring.NewEventNotifier()
	if err != nil {
		t.Fatal(err)
	}
	defer efd.Close()
	h := newHarness(t, startDevice(t, "ideal"), 8, func(c *device.QueueConfig) { c.CQNotifier = efd })
	h.cq.SetNotifier(efd)
	for i := 0; i < 200; i++ {
		h.submit(ring.SQE{Opcode: ring.OpNop, UserData: uint64(i)})
		// No spinning: the client sleeps on the eventfd until the device signals it.
		n, err := h.cq.Wait(0, 10*time.Second)
		if err != nil || n != 1 {
			t.Fatalf("job %d: woke with %d completions, %v", i, n, err)
		}
		h.reap(1)
	}
	if c := h.cq.Counters(); c.Sleeps == 0 {
		t.Fatal("the client never slept on its eventfd")
	}
}

// TestHostLimited: qat-gen4 models an ECDSA P-384 signature in tens of
// microseconds, far less than this host needs, so every completion is flagged
// and the stats say for how long the host was the limit.
func TestHostLimited(t *testing.T) {
	d := startDevice(t, "qat-gen4")
	h := newHarness(t, d, 8, nil)
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	kh := h.space.addKey(t, device.KeyPrivate, der)
	digest := sha256.Sum256([]byte("accelq"))
	in, inMem := h.region(32, false)
	copy(inMem, digest[:])
	out, outMem := h.region(104, true)
	c := h.run(ring.SQE{Opcode: ring.OpECDSASign, Key: kh, Src: ref(in, 0, 32), Dst: ref(out, 0, 104)})
	if c.Status != ring.StatusOK || c.Flags&ring.CQEHostLimited == 0 {
		t.Fatalf("P-384 sign on qat-gen4: %+v, want ok and host-limited", c)
	}
	if !ecdsa.VerifyASN1(&priv.PublicKey, digest[:], outMem[:c.Result]) {
		t.Fatal("signature does not verify")
	}
	if st := d.Stats().Classes[ring.ClassAsymmetric]; st.HostLimited <= 0 {
		t.Fatalf("asymmetric stats: %+v", st)
	}
}
