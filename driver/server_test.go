package driver

// The control protocol end to end in one process: a Server on a temporary
// socket, a Conn dialling it, and the data path through the rings it maps.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

func startServer(t testing.TB, policy *Policy) (string, *Driver) {
	t.Helper()
	dev := newIdealDevice(t) // closed after the server and driver: cleanups run last first
	drv := New(dev, policy)
	path := filepath.Join(t.TempDir(), "acceld.sock")
	l, err := Listen(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(drv, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		drv.Close()
	})
	return path, drv
}

func dial(t testing.TB, path string) *Conn {
	t.Helper()
	cn, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.Close() })
	return cn
}

func TestServerDataPath(t *testing.T) {
	path, drv := startServer(t, nil)
	cn := dial(t, path)
	info, err := cn.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Device.Profile != "ideal" || len(info.Ops) == 0 || !info.Rule.Allows(ring.OpSHA256) {
		t.Fatalf("info: %+v", info)
	}
	fd, mem := sealedMemfd(t, 1<<16)
	h, size, err := cn.RegisterMemory(fd, true)
	if err != nil || size != 1<<16 {
		t.Fatalf("register: %d %d %v", h, size, err)
	}
	q, err := cn.CreateQueue(QueueOptions{Depth: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	cl := newRingClient(t, q.SQ, q.CQ, q.Doorbell, nil)
	copy(mem, "hello, accelq")
	c := cl.run(ring.SQE{Opcode: ring.OpSHA256, UserData: 5,
		Src: ring.BufRef{Region: h, Len: 13}, Dst: ring.BufRef{Region: h, Off: 4096, Len: 32}})
	want := sha256.Sum256([]byte("hello, accelq"))
	if c.Status != ring.StatusOK || !bytes.Equal(mem[4096:4096+32], want[:]) {
		t.Fatalf("sha256 over the socket's rings: %+v", c)
	}
	st, err := cn.QueueStats(q.Handle)
	if err != nil || st.Completed != 1 {
		t.Fatalf("stats %+v %v", st, err)
	}
	kh, err := cn.ImportKey(device.KeyHMAC, []byte("secret"))
	if err != nil || kh == 0 {
		t.Fatalf("import key: %d %v", kh, err)
	}
	if err := cn.DestroyKey(kh); err != nil {
		t.Fatal(err)
	}
	if err := cn.DestroyKey(kh); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("destroying a key twice: %v, want ErrBadHandle", err)
	}
	if err := cn.DestroyQueue(q.Handle); err != nil {
		t.Fatal(err)
	}
	if err := cn.UnregisterMemory(h); err != nil {
		t.Fatal(err)
	}
	cn.Close()
	_ = drv
}

func TestServerRefusals(t *testing.T) {
	path, _ := startServer(t, nil)
	cn := dial(t, path)
	unsealed, _ := newMemfd(t, 4096, 0)
	if _, _, err := cn.RegisterMemory(unsealed, true); !errors.Is(err, ErrUnsealed) {
		t.Fatalf("unsealed memfd: %v", err)
	}
	efd, err := ring.NewEventNotifier()
	if err != nil {
		t.Fatal(err)
	}
	defer efd.Close()
	if _, err := cn.CreateQueue(QueueOptions{Depth: 3}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("depth 3: %v", err)
	}
	// A descriptor that is not an eventfd as the CQ notifier.
	fd, _ := sealedMemfd(t, 4096)
	var b builder
	(&createQueueReq{Depth: 8, Flags: cqEventFD}).encode(&b)
	if _, _, err := cn.call(MsgCreateQueue, b, []int{fd}); err == nil {
		t.Fatal("a memfd was accepted as an eventfd")
	}
	if _, err := cn.ImportKey(device.KeyAES, []byte("short")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad key: %v", err)
	}
	if err := cn.UnregisterMemory(42); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("unknown region: %v", err)
	}
	q, err := cn.CreateQueue(QueueOptions{Depth: 8}, efd)
	if err != nil {
		t.Fatalf("queue with an eventfd: %v", err)
	}
	q.Close()
	_ = unix.Close
}
