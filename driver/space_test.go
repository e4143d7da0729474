package driver

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

func TestTranslateEdges(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1000)
	const size = 4096
	rwFD, rwMem := sealedMemfd(t, size)
	roFD, _ := sealedMemfd(t, size)
	rw := register(t, c, rwFD, true)
	ro := register(t, c, roFD, false)
	unknown := rw ^ ro ^ 0x5a5a5a5a
	for unknown == 0 || unknown == rw || unknown == ro {
		unknown++
	}
	max64 := ^uint64(0)
	max32 := ^uint32(0)
	cases := []struct {
		name   string
		ref    ring.BufRef
		access device.Access
		want   ring.Status
		len    int
	}{
		{"zero ref", ring.BufRef{}, device.AccessRead, ring.StatusOK, 0},
		{"zero ref write", ring.BufRef{}, device.AccessWrite, ring.StatusOK, 0},
		{"region 0 with offset", ring.BufRef{Off: 1}, device.AccessRead, ring.StatusBadAddress, 0},
		{"region 0 with length", ring.BufRef{Len: 1}, device.AccessRead, ring.StatusBadAddress, 0},
		{"whole region", ring.BufRef{Region: rw, Len: size}, device.AccessWrite, ring.StatusOK, size},
		{"empty at end", ring.BufRef{Region: rw, Off: size}, device.AccessRead, ring.StatusOK, 0},
		{"one past end", ring.BufRef{Region: rw, Off: size, Len: 1}, device.AccessRead, ring.StatusBadAddress, 0},
		{"offset past end", ring.BufRef{Region: rw, Off: size + 1}, device.AccessRead, ring.StatusBadAddress, 0},
		{"length past end", ring.BufRef{Region: rw, Off: 1, Len: size}, device.AccessRead, ring.StatusBadAddress, 0},
		{"tail", ring.BufRef{Region: rw, Off: 1, Len: size - 1}, device.AccessRead, ring.StatusOK, size - 1},
		{"max offset", ring.BufRef{Region: rw, Off: max64, Len: 1}, device.AccessRead, ring.StatusBadAddress, 0},
		{"max offset empty", ring.BufRef{Region: rw, Off: max64}, device.AccessRead, ring.StatusBadAddress, 0},
		{"offset wraps with length", ring.BufRef{Region: rw, Off: max64 - 15, Len: 32}, device.AccessRead, ring.StatusBadAddress, 0},
		{"max length", ring.BufRef{Region: rw, Len: max32}, device.AccessRead, ring.StatusBadAddress, 0},
		{"max length near end", ring.BufRef{Region: rw, Off: size - 1, Len: max32}, device.AccessRead, ring.StatusBadAddress, 0},
		{"max both", ring.BufRef{Region: rw, Off: max64, Len: max32}, device.AccessRead, ring.StatusBadAddress, 0},
		{"read-only read", ring.BufRef{Region: ro, Off: 8, Len: 8}, device.AccessRead, ring.StatusOK, 8},
		{"read-only write", ring.BufRef{Region: ro, Off: 8, Len: 8}, device.AccessWrite, ring.StatusBadAddress, 0},
		{"read-only read-write", ring.BufRef{Region: ro, Len: 8}, device.AccessRead | device.AccessWrite, ring.StatusBadAddress, 0},
		{"unknown handle", ring.BufRef{Region: unknown, Len: 1}, device.AccessRead, ring.StatusBadAddress, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, pin, st := c.space.Translate(tc.ref, tc.access)
			if st != tc.want {
				t.Fatalf("Translate(%+v) status %v, want %v", tc.ref, st, tc.want)
			}
			if st != ring.StatusOK || tc.ref.IsZero() {
				if b != nil || pin != nil {
					t.Fatalf("Translate(%+v) gave bytes %v or pin %v with status %v", tc.ref, b != nil, pin, st)
				}
				return
			}
			defer pin.Unpin()
			if len(b) != tc.len || cap(b) != tc.len {
				t.Fatalf("Translate(%+v): len %d cap %d, want both %d", tc.ref, len(b), cap(b), tc.len)
			}
		})
	}

	// A translation aliases the client's memory.
	b, pin, st := c.space.Translate(ring.BufRef{Region: rw, Off: 100, Len: 4}, device.AccessWrite)
	if st != ring.StatusOK {
		t.Fatal(st)
	}
	copy(b, "abcd")
	pin.Unpin()
	if string(rwMem[100:104]) != "abcd" {
		t.Fatalf("device write not visible to the client: %q", rwMem[100:104])
	}
}

func TestOtherContextHandlesDoNotResolve(t *testing.T) {
	d := New(newFakeDevice(), nil)
	a, b := openCtx(t, d, 1000), openCtx(t, d, 1001)
	fd, _ := sealedMemfd(t, 4096)
	ha := register(t, a, fd, true)
	ka, err := a.ImportKey(device.KeyHMAC, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	// Give b objects of its own, so its tables are not simply empty.
	fdb, _ := sealedMemfd(t, 4096)
	hb := register(t, b, fdb, true)
	if hb == ha {
		t.Skip("handle collision between contexts (probability 2^-32)")
	}
	if _, _, st := b.space.Translate(ring.BufRef{Region: ha, Len: 1}, device.AccessRead); st != ring.StatusBadAddress {
		t.Fatalf("context B translated context A's region: status %v", st)
	}
	if _, _, st := b.space.Key(ka); st != ring.StatusNotPermitted {
		t.Fatalf("context B resolved context A's key: status %v", st)
	}
	if err := b.UnregisterMemory(ha); err == nil {
		t.Fatal("context B unregistered context A's region")
	}
	if err := b.DestroyKey(ka); err == nil {
		t.Fatal("context B destroyed context A's key")
	}
	if _, _, st := a.space.Translate(ring.BufRef{Region: ha, Len: 1}, device.AccessRead); st != ring.StatusOK {
		t.Fatalf("context A lost its region: %v", st)
	}
}

func TestTranslateDoesNotAllocate(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1000)
	fd, _ := sealedMemfd(t, 4096)
	h := register(t, c, fd, true)
	ref := ring.BufRef{Region: h, Off: 64, Len: 1024}
	allocs := testing.AllocsPerRun(1000, func() {
		_, pin, st := c.space.Translate(ref, device.AccessWrite)
		if st != ring.StatusOK {
			panic(st)
		}
		pin.Unpin()
		if _, pin, _ := c.space.Key(1); pin != nil {
			pin.Unpin()
		}
	})
	if allocs != 0 {
		t.Fatalf("Translate+Unpin allocates %v times per call", allocs)
	}
}

// TestTranslateWhileUnregistering races translations against registration and
// unregistration: a translation either fails or yields memory that stays mapped
// until it is unpinned.
func TestTranslateWhileUnregistering(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1000)
	fd, _ := sealedMemfd(t, 4096)
	var handle atomic.Uint32
	var stop atomic.Bool
	var wg sync.WaitGroup
	var ok, refused atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				b, pin, st := c.space.Translate(ring.BufRef{Region: handle.Load(), Len: 4096}, device.AccessWrite)
				if st != ring.StatusOK {
					refused.Add(1)
					continue
				}
				b[0]++ // faults if the region were unmapped under us
				b[4095]++
				r := pin.(*region)
				if r.released.Load() {
					panic("translated a released region")
				}
				pin.Unpin()
				ok.Add(1)
			}
		}()
	}
	for i := 0; i < 300 || ok.Load() == 0; i++ {
		h, _, err := c.RegisterMemory(fd, true)
		if err != nil {
			t.Fatal(err)
		}
		handle.Store(h)
		for j := 0; j < 10; j++ {
			c.space.Key(h) // a region handle is not a key handle
		}
		if err := c.UnregisterMemory(h); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := c.nregions.Load(); n != 0 {
		t.Fatalf("%d regions still counted after unregistering all of them", n)
	}
	t.Logf("%d translations succeeded, %d refused", ok.Load(), refused.Load())
}

func BenchmarkTranslate(b *testing.B) {
	d := New(newFakeDevice(), nil)
	c := openCtx(b, d, 1000)
	for range 16 { // a table with some entries
		fd, _ := sealedMemfd(b, 4096)
		register(b, c, fd, true)
	}
	fd, _ := sealedMemfd(b, 1<<20)
	h := register(b, c, fd, true)
	ref := ring.BufRef{Region: h, Off: 4096, Len: 16384}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, pin, st := c.space.Translate(ref, device.AccessWrite)
			if st != ring.StatusOK {
				b.Fatal(st)
			}
			pin.Unpin()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, pin, st := c.space.Translate(ref, device.AccessWrite)
				if st != ring.StatusOK {
					panic(st)
				}
				pin.Unpin()
			}
		})
	})
}
