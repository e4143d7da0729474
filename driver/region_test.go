package driver

import (
	"errors"
	"os"
	"slices"
	"testing"

	xunix "golang.org/x/sys/unix"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

func TestRegisterRefusesUnsealedMemory(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1000)
	fd, _ := newMemfd(t, 4096, 0)
	_, _, err := c.RegisterMemory(fd, true)
	if !errors.Is(err, ErrUnsealed) {
		t.Fatalf("registering an unsealed memfd: %v, want ErrUnsealed", err)
	}
	t.Log(err)
	// Growing is no substitute for shrinking.
	fd, _ = newMemfd(t, 4096, unix.SealGrow)
	if _, _, err := c.RegisterMemory(fd, true); !errors.Is(err, ErrUnsealed) {
		t.Fatalf("registering a memfd sealed only against growth: %v, want ErrUnsealed", err)
	}
	if n := c.nregions.Load(); n != 0 {
		t.Fatalf("%d regions counted after refusals", n)
	}
}

func TestRegisterRefusesOtherDescriptors(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1000)
	f, err := os.CreateTemp(t.TempDir(), "region")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(4096)
	empty, _ := newMemfd(t, 0, unix.SealShrink)
	for name, fd := range map[string]int{"regular file": int(f.Fd()), "negative": -1, "closed": 1 << 20, "empty memfd": empty} {
		if _, _, err := c.RegisterMemory(fd, false); !errors.Is(err, ErrInvalid) {
			t.Errorf("registering a %s: %v, want ErrInvalid", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestRegisterWriteSealed(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1000)
	fd, _ := newMemfd(t, 4096, unix.SealShrink|xunix.F_SEAL_WRITE)
	if _, _, err := c.RegisterMemory(fd, true); err == nil {
		t.Fatal("registered a write-sealed memfd read-write")
	} else {
		t.Log(err)
	}
	if _, _, err := c.RegisterMemory(fd, false); err != nil {
		t.Fatalf("registering a write-sealed memfd read-only: %v", err)
	}
}

func TestRegisteredMemoryCannotShrink(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1000)
	fd, _ := sealedMemfd(t, 8192)
	h, size, err := c.RegisterMemory(fd, true)
	if err != nil {
		t.Fatal(err)
	}
	if size != 8192 {
		t.Fatalf("size %d, want 8192", size)
	}
	if err := xunix.Ftruncate(fd, 4096); !errors.Is(err, xunix.EPERM) {
		t.Fatalf("shrinking a registered memfd: %v, want EPERM", err)
	}
	// Growing is allowed and does not change the region.
	if err := xunix.Ftruncate(fd, 16384); err != nil {
		t.Fatal(err)
	}
	if _, _, st := c.space.Translate(ring.BufRef{Region: h, Off: 8192, Len: 1}, device.AccessRead); st != ring.StatusBadAddress {
		t.Fatalf("translation past the registered size after growth: %v", st)
	}
	if _, _, st := c.space.Translate(ring.BufRef{Region: h, Off: 8191, Len: 1}, device.AccessRead); st != ring.StatusOK {
		t.Fatalf("translation of the last registered byte: %v", st)
	}
}

func TestRegisterOwnsItsDescriptor(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1000)
	fd, err := unix.Memfd("closed-by-client", 4096)
	if err != nil {
		t.Fatal(err)
	}
	unix.AddSeals(fd, unix.SealShrink)
	h := register(t, c, fd, true)
	unix.Close(fd) // the client closes its copy at once
	b, pin, st := c.space.Translate(ring.BufRef{Region: h, Len: 4096}, device.AccessWrite)
	if st != ring.StatusOK {
		t.Fatal(st)
	}
	b[4095] = 1
	pin.Unpin()
}

func TestUnregisterUnmapsAfterLastUnpin(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1000)
	fds0 := countFDs(t)
	fd, _ := sealedMemfd(t, 4096)
	h := register(t, c, fd, true)
	ref := ring.BufRef{Region: h, Len: 16}
	_, p1, st := c.space.Translate(ref, device.AccessRead)
	if st != ring.StatusOK {
		t.Fatal(st)
	}
	b2, p2, _ := c.space.Translate(ref, device.AccessWrite)
	r := p1.(*region)
	if err := c.UnregisterMemory(h); err != nil {
		t.Fatal(err)
	}
	if _, _, st := c.space.Translate(ref, device.AccessRead); st != ring.StatusBadAddress {
		t.Fatalf("translation after unregister: %v, want bad address", st)
	}
	if err := c.UnregisterMemory(h); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("second unregister: %v, want ErrBadHandle", err)
	}
	p1.Unpin()
	if r.released.Load() {
		t.Fatal("region unmapped with a pin outstanding")
	}
	if _, ok := findMapping(t, b2); !ok {
		t.Fatal("mapping gone with a pin outstanding")
	}
	b2[0] = 1 // still mapped
	if got := c.regBytes.Load(); got != 4096 {
		t.Fatalf("pinned region counts %d bytes, want 4096", got)
	}
	p2.Unpin()
	if !r.released.Load() {
		t.Fatal("region not released after its last unpin")
	}
	if _, ok := findMapping(t, b2); ok {
		t.Fatal("region still mapped after its last unpin")
	}
	if got := c.regBytes.Load(); got != 0 {
		t.Fatalf("released region still counts %d bytes", got)
	}
	// The test's own memfd is the only descriptor left of the registration.
	if n := countFDs(t); n != fds0+1 {
		t.Fatalf("%d descriptors open, want %d", n, fds0+1)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("an extra Unpin did not panic")
		}
	}()
	p2.Unpin()
}

func TestMappingsAreReadOnlyAndDontFork(t *testing.T) {
	dev := newFakeDevice()
	d := New(dev, nil)
	c := openCtx(t, d, 1000)
	rwFD, _ := sealedMemfd(t, 4096)
	roFD, _ := sealedMemfd(t, 4096)
	rw, ro := register(t, c, rwFD, true), register(t, c, roFD, false)
	q, err := c.CreateQueue(QueueOptions{Depth: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		name  string
		mem   []byte
		perms string
	}{
		{"read-write region", c.space.lookupRegion(rw).mem, "rw-s"},
		{"read-only region", c.space.lookupRegion(ro).mem, "r--s"},
		{"SQ", q.SQ(), "rw-s"},
		{"CQ", q.CQ(), "rw-s"},
	} {
		mp, ok := findMapping(t, m.mem)
		if !ok {
			t.Fatalf("%s: no mapping found", m.name)
		}
		if mp.perms != m.perms {
			t.Errorf("%s: mapped %s, want %s", m.name, mp.perms, m.perms)
		}
		// "dc": do not copy this area on fork; a forked child has nothing there.
		if !slices.Contains(mp.vmFlags, "dc") {
			t.Errorf("%s: VmFlags %v lack dc (MADV_DONTFORK)", m.name, mp.vmFlags)
		}
	}
	// Ring memfds and the driver's duplicates are close-on-exec.
	for _, fd := range []int{q.SQFD(), q.CQFD(), c.space.lookupRegion(rw).fd} {
		flags, err := xunix.FcntlInt(uintptr(fd), xunix.F_GETFD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if flags&xunix.FD_CLOEXEC == 0 {
			t.Errorf("descriptor %d is not close-on-exec", fd)
		}
	}
	// Ring memfds cannot be resized or re-sealed by a client they are passed to.
	if err := xunix.Ftruncate(q.SQFD(), 0); !errors.Is(err, xunix.EPERM) {
		t.Errorf("shrinking the SQ memfd: %v, want EPERM", err)
	}
	if err := xunix.Ftruncate(q.CQFD(), 1<<20); !errors.Is(err, xunix.EPERM) {
		t.Errorf("growing the CQ memfd: %v, want EPERM", err)
	}
	if err := unix.AddSeals(q.SQFD(), xunix.F_SEAL_FUTURE_WRITE); err == nil {
		t.Error("a client could add seals to the SQ memfd")
	}
}
