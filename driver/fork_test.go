package driver

// What a forked child sees: nothing at the addresses of its parent's rings and
// registered regions. The child asks the kernel with mincore(2), which fails
// with ENOMEM for an unmapped page, so it never faults; it may do nothing else,
// since a forked Go process has only the forking thread.

import (
	"runtime"
	"syscall"
	"testing"
	"unsafe"
)

// childSeesMapping forks and reports whether the child has a mapping at addr.
func childSeesMapping(t *testing.T, addr unsafe.Pointer) bool {
	t.Helper()
	page := uintptr(addr) &^ uintptr(syscall.Getpagesize()-1)
	var vec [1]byte
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// clone(SIGCHLD) is fork(2) on every architecture Go supports.
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 {
		t.Fatalf("fork: %v", errno)
	}
	if pid == 0 {
		_, _, e := syscall.RawSyscall(syscall.SYS_MINCORE, page, 1, uintptr(unsafe.Pointer(&vec[0])))
		code := uintptr(1) // mapped
		if e == syscall.ENOMEM {
			code = 0 // nothing there
		}
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, code, 0, 0)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(int(pid), &ws, 0, nil); err != nil {
		t.Fatalf("wait4: %v", err)
	}
	if !ws.Exited() {
		t.Fatalf("forked child did not exit normally: %v", ws)
	}
	return ws.ExitStatus() == 1
}

func TestForkedChildSeesNoRingsOrRegions(t *testing.T) {
	d := New(newFakeDevice(), nil)
	defer d.Close()
	c := openCtx(t, d, 1000)
	q, err := c.CreateQueue(QueueOptions{Depth: 16})
	if err != nil {
		t.Fatal(err)
	}
	fd, _ := sealedMemfd(t, 1<<16)
	h := register(t, c, fd, true)
	r := c.space.lookupRegion(h)

	// A control: the child does see ordinary memory its parent had.
	heap := make([]byte, 1<<16)
	if !childSeesMapping(t, unsafe.Pointer(&heap[4096])) {
		t.Fatal("the forked child sees no mapping even for ordinary heap memory: the probe is broken")
	}
	for name, addr := range map[string]unsafe.Pointer{
		"submission ring":   unsafe.Pointer(&q.SQ()[0]),
		"completion ring":   unsafe.Pointer(&q.CQ()[0]),
		"registered region": unsafe.Pointer(&r.mem[0]),
	} {
		if childSeesMapping(t, addr) {
			t.Errorf("a forked child has the parent's %s mapped", name)
		}
	}
}
