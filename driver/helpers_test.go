package driver

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	xunix "golang.org/x/sys/unix"

	"github.com/accelq/accelq/internal/unix"
)

// newMemfd returns a memfd of size bytes with the given seals, closed at cleanup,
// and a mapping of it through which the test plays the client.
func newMemfd(t testing.TB, size int, seals int) (int, []byte) {
	t.Helper()
	fd, err := unix.Memfd("test-region", size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if seals != 0 {
		if err := unix.AddSeals(fd, seals); err != nil {
			t.Fatal(err)
		}
	}
	var mem []byte
	if size > 0 && seals&xunix.F_SEAL_WRITE == 0 {
		mem, err = unix.MapShared(fd, size)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Unmap(mem) })
	}
	return fd, mem
}

// sealedMemfd is newMemfd with F_SEAL_SHRINK.
func sealedMemfd(t testing.TB, size int) (int, []byte) {
	t.Helper()
	return newMemfd(t, size, unix.SealShrink)
}

func openCtx(t testing.TB, d *Driver, uid uint32) *Context {
	t.Helper()
	c, err := d.Open(Cred{UID: uid, GID: uid, PID: int32(os.Getpid())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func register(t testing.TB, c *Context, fd int, writable bool) uint32 {
	t.Helper()
	h, _, err := c.RegisterMemory(fd, writable)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// countFDs returns the number of open descriptors.
func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// countMaps returns the number of mappings, and of those backed by a memfd.
func countMaps(t testing.TB) (all, memfd int) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		all++
		if strings.Contains(l, "/memfd:") {
			memfd++
		}
	}
	return all, memfd
}

// mapping describes the /proc/self/smaps entry holding addr.
type mapping struct {
	perms   string
	vmFlags []string
}

func findMapping(t testing.TB, mem []byte) (mapping, bool) {
	t.Helper()
	addr := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(mem))))
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var cur *mapping
	var found mapping
	ok := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 2 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			var lo, hi uint64
			if _, err := parseRange(f[0], &lo, &hi); err == nil && addr >= lo && addr < hi {
				found = mapping{perms: f[1]}
				cur, ok = &found, true
				continue
			}
			cur = nil
			continue
		}
		if cur != nil && strings.HasPrefix(line, "VmFlags:") {
			cur.vmFlags = strings.Fields(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	return found, ok
}

func parseRange(s string, lo, hi *uint64) (int, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, errors.New("no range")
	}
	var err error
	if *lo, err = parseHex(a); err != nil {
		return 0, err
	}
	*hi, err = parseHex(b)
	return 2, err
}

func parseHex(s string) (uint64, error) { return strconv.ParseUint(s, 16, 64) }
