package ring

// Sleep/wake tests in one process, meant to run under -race: a consumer goroutine
// that sleeps between bursts (through Wait or Sleep) and a producer goroutine that
// wakes it, with the default futex notifier and with one EventNotifier shared by
// both sides. Each burst starts after the consumer drained the last one, half of
// them only once it has armed NEED_WAKEUP, so the wake path runs every time
// rather than when timing allows, and the other half race the consumer's arming.
// A lost wake-up shows as a consumer that slept its whole timeout with entries
// waiting.

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelq/accelq/internal/unix"
)

// lostWakeTimeout is how long a sleeping consumer waits before it looks for
// itself. Entries waiting after that long mean a wake-up was lost; no healthy
// producer takes seconds to go from Commit to Wake.
const lostWakeTimeout = 5 * time.Second

type notifierKind struct {
	name string
	make func(t *testing.T) Notifier // nil for the default futex
}

var notifierKinds = []notifierKind{
	{"futex", nil},
	{"eventfd", func(t *testing.T) Notifier {
		n, err := NewEventNotifier()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}},
}

func TestSleepWakeBursts(t *testing.T) {
	bursts := 3000
	if testing.Short() {
		bursts = 500
	}
	for _, nk := range notifierKinds {
		for _, mode := range []string{"Wait", "Sleep"} {
			t.Run(nk.name+"/"+mode, func(t *testing.T) {
				runBursts(t, nk, mode, bursts)
			})
		}
	}
}

func runBursts(t *testing.T, nk notifierKind, mode string, bursts int) {
	const entries, esz = 64, 16
	p, c, _ := newPair(t, entries, esz)
	if nk.make != nil {
		n := nk.make(t)
		p.SetNotifier(n)
		c.SetNotifier(n)
	}
	rng := rand.New(rand.NewPCG(1, uint64(len(mode))))
	sizes := make([]int, bursts)
	forced := make([]bool, bursts)
	total, nforced := 0, 0
	for i := range sizes {
		sizes[i] = 1 + rng.IntN(2*entries)
		forced[i] = rng.IntN(2) == 0
		total += sizes[i]
		if forced[i] {
			nforced++
		}
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	defer func() { stop.Store(true); wg.Wait() }()
	wg.Add(1)
	go func() { // producer
		defer wg.Done()
		wd := newWatchdog(hangTimeout)
		var v uint64
		for b := range bursts {
			if forced[b] {
				// Start the burst only once the consumer has asked to be woken.
				for !p.NeedsWakeup() {
					if stop.Load() || wd.expired() {
						t.Errorf("burst %d: consumer never armed NEED_WAKEUP", b)
						return
					}
					runtime.Gosched()
				}
			} else {
				for range rng.IntN(2000) { // a short, random pause
					if stop.Load() {
						return
					}
				}
			}
			for left := sizes[b]; left > 0; {
				n, err := p.Reserve(min(left, 1+rng.IntN(16)))
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					if stop.Load() || wd.expired() {
						t.Errorf("burst %d: ring stayed full", b)
						return
					}
					runtime.Gosched()
					continue
				}
				for i := range n {
					binary.LittleEndian.PutUint64(p.Entry(i), v)
					v++
				}
				p.Commit(n)
				left -= n
				if _, err := p.Wake(); err != nil {
					t.Error(err)
					return
				}
			}
			// Let the consumer drain the burst before the next one starts, so
			// that no later commit can rescue a wake-up this burst lost.
			for {
				f, err := p.Free()
				if err != nil {
					t.Error(err)
					return
				}
				if f == entries {
					break
				}
				if stop.Load() || wd.expired() {
					// The consumer stops once it has every entry: the head it
					// published before that must show now.
					if f, err := p.Free(); err == nil && f == entries && !wd.expired() {
						break
					}
					t.Errorf("burst %d: consumer never drained it", b)
					return
				}
				runtime.Gosched()
			}
		}
	}()

	// Consumer, on the test goroutine.
	dst := make([]byte, 8*esz)
	deadline := time.Now().Add(hangTimeout)
	spins := []int{0, 1, 50}
	for want := uint64(0); want < uint64(total); {
		if time.Now().After(deadline) {
			t.Fatalf("consumer stuck at entry %d of %d", want, total)
		}
		var ready int
		var err error
		began := time.Now()
		switch mode {
		case "Wait":
			ready, err = c.Wait(spins[want%3], lostWakeTimeout)
		case "Sleep":
			if ready, err = c.Available(); ready == 0 && err == nil {
				err = c.Sleep(lostWakeTimeout)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		// Wait re-checks the ring when its sleep times out, so a lost wake-up
		// shows as a call that slept its whole timeout, not as a zero return.
		if time.Since(began) >= lostWakeTimeout {
			if n, _ := c.Available(); n > 0 {
				t.Fatalf("lost wake-up: slept the whole %v with %d entries ready (%d of %d received)", lostWakeTimeout, n, want, total)
			}
		}
		if ready == 0 {
			continue
		}
		n, err := c.Pop(dst)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if got := binary.LittleEndian.Uint64(dst[i*esz:]); got != want {
				t.Fatalf("got entry %d, want %d", got, want)
			}
			want++
		}
	}
	stop.Store(true)
	wg.Wait()
	cs := c.Counters()
	t.Logf("%d bursts (%d forced), %d entries: %d sleeps, %d wake-ups", bursts, nforced, total, cs.Sleeps, cs.Wakeups)
	// Every forced burst waited for an Arm that found the ring empty, and an Arm
	// that finds it empty is followed by a counted sleep.
	if cs.Sleeps < uint64(nforced) {
		t.Errorf("%d sleeps counted, but %d bursts waited for a sleeping consumer", cs.Sleeps, nforced)
	}
	// Wake-ups may outnumber sleeps (a producer can see the flag of an Arm that
	// then finds entries and disarms), but with forced bursts some must happen.
	if nforced > 0 && cs.Wakeups == 0 {
		t.Errorf("no wake-ups for %d bursts that waited for a sleeping consumer", nforced)
	}
}

func TestWaitTimesOutOnEmptyRing(t *testing.T) {
	for _, nk := range notifierKinds {
		t.Run(nk.name, func(t *testing.T) {
			p, c, mem := newPair(t, 8, 8)
			if nk.make != nil {
				n := nk.make(t)
				p.SetNotifier(n)
				c.SetNotifier(n)
			}
			noHang(t, "Wait on an empty ring", func() {
				if n, err := c.Wait(10, 0); n != 0 || err != nil {
					t.Errorf("Wait(10, 0) = %d, %v", n, err)
				}
				if n, err := c.Wait(10, time.Millisecond); n != 0 || err != nil {
					t.Errorf("Wait(10, 1ms) = %d, %v", n, err)
				}
			})
			if c.Counters().Sleeps == 0 {
				t.Error("Wait with a timeout never slept")
			}
			if f := getWord(mem, offFlags); f != 0 {
				t.Errorf("flags %#x left set after Wait returned", f)
			}
			// Nobody is asleep, so Wake must not count or notify.
			if woke, err := p.Wake(); woke || err != nil {
				t.Errorf("Wake with no sleeper: %v, %v", woke, err)
			}
			if w := c.Counters().Wakeups; w != 0 {
				t.Errorf("%d wake-ups counted with no sleeper", w)
			}
		})
	}
}

func TestWaitReturnsEntriesWithoutSleeping(t *testing.T) {
	p, c, _ := newPair(t, 8, 8)
	if ok, err := p.Push(make([]byte, 8)); !ok || err != nil {
		t.Fatal("push failed")
	}
	for _, spins := range []int{0, 1, 100} {
		if n, err := c.Wait(spins, -1); n != 1 || err != nil {
			t.Fatalf("Wait(%d, -1) with an entry ready: %d, %v", spins, n, err)
		}
	}
	if empty, err := c.Arm(); empty || err != nil {
		t.Fatalf("Arm with an entry ready: %v, %v", empty, err)
	}
	if p.NeedsWakeup() {
		t.Fatal("Arm left NEED_WAKEUP set although entries were ready")
	}
	if s := c.Counters().Sleeps; s != 0 {
		t.Fatalf("%d sleeps with entries ready", s)
	}
}

func TestWakeBeforeSleepIsNotLost(t *testing.T) {
	// The window the protocol closes: the consumer arms, the producer publishes
	// and wakes, and only then does the consumer go to sleep. The sleep must
	// return at once, with the entry visible.
	for _, nk := range notifierKinds {
		t.Run(nk.name, func(t *testing.T) {
			p, c, _ := newPair(t, 8, 8)
			var n Notifier = futexNotifier{c.flagsp}
			if nk.make != nil {
				n = nk.make(t)
				p.SetNotifier(n)
				c.SetNotifier(n)
			}
			if empty, err := c.Arm(); !empty || err != nil {
				t.Fatalf("Arm: %v, %v", empty, err)
			}
			if ok, err := p.Push(make([]byte, 8)); !ok || err != nil {
				t.Fatal("push failed")
			}
			if woke, err := p.Wake(); !woke || err != nil {
				t.Fatalf("Wake: %v, %v", woke, err)
			}
			noHang(t, "sleep after a wake", func() {
				if err := n.Wait(c.flagsp, -1); err != nil {
					t.Error(err)
				}
			})
			if a, err := c.Available(); a != 1 || err != nil {
				t.Fatalf("Available after the wake: %d, %v", a, err)
			}
		})
	}
}

func TestEventNotifierAcrossDescriptors(t *testing.T) {
	a, err := NewEventNotifier()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// What the other process would do with the descriptor it received.
	fd, err := unix.Dup(a.FD())
	if err != nil {
		t.Fatal(err)
	}
	b, err := EventNotifierFromFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Notify(); err != nil {
		t.Fatal(err)
	}
	noHang(t, "eventfd wait after notify", func() {
		if err := b.Wait(nil, -1); err != nil {
			t.Error(err)
		}
	})
	if _, err := EventNotifierFromFD(-1); err == nil {
		t.Error("EventNotifierFromFD(-1) succeeded")
	}
}

func TestFutexNotifierWaitIgnoresClearedFlag(t *testing.T) {
	var flags uint32
	f := futexNotifier{&flags}
	// Flag clear: the producer already woke us, so waiting forever must not block.
	noHang(t, "futex wait with the flag clear", func() {
		if err := f.Wait(&flags, -1); err != nil {
			t.Error(err)
		}
	})
	// Waking a word nobody sleeps on is not an error.
	if err := f.Notify(); err != nil {
		t.Fatal(err)
	}
}
