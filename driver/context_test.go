package driver

import (
	"errors"
	"sync"
	"testing"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

func TestDriverClose(t *testing.T) {
	d := New(newFakeDevice(), nil)
	a, b := openCtx(t, d, 1), openCtx(t, d, 2)
	fd, _ := sealedMemfd(t, 4096)
	h := register(t, a, fd, true)
	r := a.space.lookupRegion(h)
	if _, err := b.CreateQueue(QueueOptions{Depth: 4}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d.Contexts() != 0 || !r.released.Load() {
		t.Fatal("Driver.Close left contexts or regions behind")
	}
	if _, err := d.Open(Cred{UID: 3}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Open on a closed driver: %v, want ErrClosed", err)
	}
	for name, err := range map[string]error{
		"RegisterMemory":   func() error { _, _, err := a.RegisterMemory(fd, true); return err }(),
		"CreateQueue":      func() error { _, err := b.CreateQueue(QueueOptions{Depth: 4}); return err }(),
		"DestroyKey":       a.DestroyKey(1),
		"UnregisterMemory": a.UnregisterMemory(h),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s on a closed context: %v, want ErrClosed", name, err)
		}
	}
}

func TestBadHandles(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1)
	fd, _ := sealedMemfd(t, 4096)
	h := register(t, c, fd, true)
	k, _ := c.ImportKey(device.KeyHMAC, []byte("k"))
	q, err := c.CreateQueue(QueueOptions{Depth: 4})
	if err != nil {
		t.Fatal(err)
	}
	if h == k || k == q.Handle() || h == q.Handle() || h == 0 || k == 0 || q.Handle() == 0 {
		t.Fatalf("handles not distinct and non-zero: region %#x key %#x queue %#x", h, k, q.Handle())
	}
	// Handles of one kind do not name objects of another.
	for name, err := range map[string]error{
		"UnregisterMemory(key)":   c.UnregisterMemory(k),
		"DestroyKey(region)":      c.DestroyKey(h),
		"DestroyQueue(region)":    c.DestroyQueue(h),
		"UnregisterMemory(queue)": c.UnregisterMemory(q.Handle()),
		"DestroyKey(0)":           c.DestroyKey(0),
	} {
		if !errors.Is(err, ErrBadHandle) {
			t.Errorf("%s: %v, want ErrBadHandle", name, err)
		}
	}
	if _, _, st := c.space.Translate(ring.BufRef{Region: k, Len: 1}, device.AccessRead); st != ring.StatusBadAddress {
		t.Errorf("a key handle translated as a region: %v", st)
	}
	if _, _, st := c.space.Key(h); st != ring.StatusNotPermitted {
		t.Errorf("a region handle resolved as a key: %v", st)
	}
	if got, err := c.Queue(q.Handle()); err != nil || got != q {
		t.Errorf("Queue(%#x) = %v, %v", q.Handle(), got, err)
	}
	if err := c.DestroyQueue(q.Handle()); err != nil {
		t.Fatal(err)
	}
	if err := c.DestroyQueue(q.Handle()); !errors.Is(err, ErrBadHandle) {
		t.Errorf("second DestroyQueue: %v, want ErrBadHandle", err)
	}
}

// TestConcurrentControl runs control operations on one context from several
// goroutines, with a device translating, then closes it under them.
func TestConcurrentControl(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c, err := d.Open(Cred{UID: 1})
	if err != nil {
		t.Fatal(err)
	}
	fd, _ := sealedMemfd(t, 4096)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				h, _, err := c.RegisterMemory(fd, g%2 == 0)
				if err != nil {
					return // closed
				}
				if b, pin, st := c.space.Translate(ring.BufRef{Region: h, Len: 4096}, device.AccessRead); st == ring.StatusOK {
					_ = b[4095]
					pin.Unpin()
				}
				k, err := c.ImportKey(device.KeyHMAC, []byte{byte(i), 1})
				if err != nil {
					return
				}
				if i%8 == 0 {
					q, err := c.CreateQueue(QueueOptions{Depth: 4})
					if err != nil {
						return
					}
					c.DestroyQueue(q.Handle())
				}
				c.DestroyKey(k)
				c.UnregisterMemory(h)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.Info()
		c.Close()
	}()
	wg.Wait()
	c.Close()
	if c.nregions.Load() != 0 || c.nkeys.Load() != 0 || c.regBytes.Load() != 0 {
		t.Fatalf("after Close: %d regions, %d keys, %d bytes still counted", c.nregions.Load(), c.nkeys.Load(), c.regBytes.Load())
	}
}
