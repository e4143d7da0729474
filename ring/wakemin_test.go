package ring

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWakeThreshold: a consumer armed for n entries is woken by the publish
// that makes n ready, not by the ones before it.
func TestWakeThreshold(t *testing.T) {
	p, c, mem := newPair(t, 16, 8)
	publish := func(n int) bool {
		t.Helper()
		if got, err := p.Reserve(n); got != n || err != nil {
			t.Fatalf("Reserve(%d) = %d, %v", n, got, err)
		}
		p.Commit(n)
		woke, err := p.Wake()
		if err != nil {
			t.Fatal(err)
		}
		return woke
	}
	if short, err := c.ArmFor(3); !short || err != nil {
		t.Fatalf("ArmFor(3) on an empty ring: %v %v", short, err)
	}
	if got := binary.LittleEndian.Uint32(mem[offWakeMin:]); got != 3 {
		t.Fatalf("wake threshold %d in the header, want 3", got)
	}
	if publish(1) || publish(1) {
		t.Fatal("woken with fewer entries than the threshold")
	}
	if !c.flagSet() {
		t.Fatal("the producer cleared NEED_WAKEUP without waking")
	}
	if !publish(1) {
		t.Fatal("not woken when the third entry was published")
	}
	if c.flagSet() {
		t.Fatal("NEED_WAKEUP still set after the wake-up")
	}
	if _, err := c.Pop(make([]byte, 3*8)); err != nil {
		t.Fatal(err)
	}

	// Arming for entries already there does not arm.
	publish(2)
	if short, err := c.ArmFor(2); short || err != nil || c.flagSet() {
		t.Fatalf("ArmFor(2) with 2 ready: short=%v err=%v flag=%v", short, err, c.flagSet())
	}
	// A threshold above the ring's size is clamped to it, so it can be met.
	if _, err := c.Pop(make([]byte, 2*8)); err != nil {
		t.Fatal(err)
	}
	if short, _ := c.ArmFor(1000); !short {
		t.Fatal("ArmFor(1000) on an empty ring did not arm")
	}
	if got := binary.LittleEndian.Uint32(mem[offWakeMin:]); got != 16 {
		t.Fatalf("threshold %d, want it clamped to 16", got)
	}
	if publish(15) || !publish(1) {
		t.Fatal("a full ring must meet the clamped threshold, and only a full one")
	}
}

// TestWakeThresholdHostile: whatever a peer writes as the threshold, the
// producer neither faults nor wakes early, and an old consumer (zero) is woken
// by the first entry.
func TestWakeThresholdHostile(t *testing.T) {
	for _, v := range []uint32{0, 1, 2, 17, 1 << 31, ^uint32(0)} {
		p, c, mem := newPair(t, 16, 8)
		c.Arm()
		binary.LittleEndian.PutUint32(mem[offWakeMin:], v)
		p.Reserve(1)
		p.Commit(1)
		woke, err := p.Wake()
		if err != nil {
			t.Fatal(err)
		}
		if want := v <= 1; woke != want {
			t.Fatalf("threshold %d: woke=%v after one entry, want %v", v, woke, want)
		}
	}
}

// TestWaitForBatches: a consumer that waits for batches of n sleeps once per
// batch rather than once per entry, and loses no wake-up.
func TestWaitForBatches(t *testing.T) {
	const batch, total = 8, 8 * 500
	p, c, _ := newPair(t, 64, 8)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for sent := 0; sent < total; {
			n, err := p.Reserve(1)
			if err != nil {
				t.Error(err)
				return
			}
			if n == 0 {
				time.Sleep(time.Microsecond)
				continue
			}
			binary.LittleEndian.PutUint64(p.Entry(0), uint64(sent))
			p.Commit(1)
			if _, err := p.Wake(); err != nil {
				t.Error(err)
				return
			}
			sent++
			if sent%3 == 0 {
				time.Sleep(10 * time.Microsecond) // let the consumer fall asleep
			}
		}
	}()
	buf := make([]byte, 64*8)
	for got := 0; got < total; {
		n, err := c.WaitFor(min(batch, total-got), 0, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if n < min(batch, total-got) {
			t.Fatalf("WaitFor returned %d entries before its timeout, want %d", n, batch)
		}
		k, err := c.Pop(buf)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < k; i++ {
			if v := binary.LittleEndian.Uint64(buf[i*8:]); v != uint64(got+i) {
				t.Fatalf("entry %d carries %d", got+i, v)
			}
		}
		got += k
	}
	wg.Wait()
	if w := c.Counters().Wakeups; w > total/batch+1 {
		t.Fatalf("%d wake-ups for %d entries in batches of %d", w, total, batch)
	}
}

func (c *Consumer) flagSet() bool { return atomic.LoadUint32(c.flagsp)&FlagNeedWakeup != 0 }
