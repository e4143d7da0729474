package userdrv

// The data path through an embedded device: buffers, jobs, waiting, callbacks,
// fallback.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"

	"github.com/accelq/accelq/ring"
)

func openTest(t testing.TB, profile string, opts ...Option) *Device {
	t.Helper()
	d, err := Open(append([]Option{WithEmbedded(profile)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func newQueue(t testing.TB, d *Device, opts ...QueueOption) *Queue {
	t.Helper()
	q, err := d.NewQueue(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func alloc(t testing.TB, d *Device, n int) *Buffer {
	t.Helper()
	b, err := d.Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSubmitWait(t *testing.T) {
	d := openTest(t, "ideal")
	q := newQueue(t, d, WithDepth(16))
	src, dst := alloc(t, d, 1000), alloc(t, d, 32)
	copy(src.Bytes(), bytes.Repeat([]byte("x"), 1000))
	j := &Job{Op: ring.OpSHA256, Src: All(src), Dst: All(dst)}
	for i := 0; i < 100; i++ {
		if err := q.Submit(j); err != nil {
			t.Fatal(err)
		}
		if err := j.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(src.Bytes())
		if j.N != 32 || !bytes.Equal(dst.Bytes(), want[:]) || j.CQEFlags&ring.CQEFallback != 0 {
			t.Fatalf("job %d: n=%d flags=%v", i, j.N, j.CQEFlags)
		}
	}
	if err := j.Wait(context.Background()); err != nil {
		t.Fatalf("waiting on a collected job: %v", err)
	}
	if s := q.Stats(); s.Submitted != 100 || s.Completed != 100 || s.Fallbacks != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCallbacksDeep(t *testing.T) {
	d := openTest(t, "ideal")
	q := newQueue(t, d, WithDepth(64), WithBlockWhenFull(), WithFallback(DeviceOnly))
	const n = 5000
	src := alloc(t, d, 64)
	var wg sync.WaitGroup
	wg.Add(n)
	var mu sync.Mutex
	seen := make([]bool, n)
	jobs := make([]Job, n)
	for i := range jobs {
		dst := alloc(t, d, 32)
		jobs[i] = Job{Op: ring.OpSHA256, Src: All(src), Dst: All(dst), Value: i, Callback: func(j *Job) {
			mu.Lock()
			seen[j.Value.(int)] = j.Err == nil && j.N == 32
			mu.Unlock()
			j.Dst.Buf.Free()
			wg.Done()
		}}
		if err := q.Submit(&jobs[i]); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i, ok := range seen {
		if !ok {
			t.Fatalf("job %d did not complete correctly", i)
		}
	}
}

func TestFallbackUnsupported(t *testing.T) {
	d := openTest(t, "bluefield3") // decompresses, does not compress
	data := bytes.Repeat([]byte("accelq "), 1000)
	src, dst := alloc(t, d, len(data)), alloc(t, d, len(data))
	copy(src.Bytes(), data)
	auto := newQueue(t, d)
	j := &Job{Op: ring.OpGzipCompress, Src: All(src), Dst: All(dst)}
	if err := auto.Submit(j); err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(context.Background()); err != nil || j.CQEFlags&ring.CQEFallback == 0 {
		t.Fatalf("auto fallback: %v flags %v", err, j.CQEFlags)
	}
	if s := auto.Stats(); s.FallbackWhy[FallbackUnsupported] != 1 {
		t.Fatalf("stats %+v", s)
	}
	only := newQueue(t, d, WithFallback(DeviceOnly))
	if err := only.Submit(j); err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(context.Background()); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("device-only unsupported op: %v", err)
	}
	var je *JobError
	if !errors.As(j.Err, &je) || je.Status != ring.StatusUnsupported || je.Op != ring.OpGzipCompress {
		t.Fatalf("job error %#v", j.Err)
	}
}
