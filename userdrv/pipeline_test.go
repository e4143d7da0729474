package userdrv

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/accelq/accelq/ring"
)

// pipeText fills b with compressible text that differs with seed.
func pipeText(b []byte, seed uint64) {
	words := []string{"accelq ", "ring ", "queue ", "device ", "engine ", "zstd ", "gzip ", "member ", "frame ", "offload\n"}
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := 0; i < len(b); {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		i += copy(b[i:], words[x%uint64(len(words))])
	}
}

// pipeJob is a job with its buffers.
type pipeJob struct {
	job      Job
	src, dst *Buffer
}

// TestPipelineOrder: jobs of very different sizes on a device with several
// compression engines complete out of order; Next returns them in order, and
// never more than depth are in flight.
func TestPipelineOrder(t *testing.T) {
	d := openTest(t, "qat-gen4")
	q := newQueue(t, d, WithDepth(64), WithFallback(DeviceOnly))
	const depth, big = 8, 1 << 20
	n := 240
	if testing.Short() {
		n = 96
	}
	jobs := make([]pipeJob, depth)
	for i := range jobs {
		jobs[i].src = alloc(t, d, big)
		jobs[i].dst = alloc(t, d, gzipStreamBound(big))
		pipeText(jobs[i].src.Bytes(), uint64(i))
	}
	sizes := make([]int, n)
	want := make([]uint32, n)
	var (
		mu          sync.Mutex
		completions []int
		inflight    atomic.Int32
		maxInflight atomic.Int32
	)
	userCb := func(j *Job) {
		inflight.Add(-1)
		mu.Lock()
		completions = append(completions, j.Value.(int))
		mu.Unlock()
	}
	p := NewPipeline(q, depth)
	ctx := context.Background()
	next := 0
	collect := func() {
		t.Helper()
		j, err := p.Next(ctx)
		if err != nil {
			t.Fatalf("job %d: %v", next, err)
		}
		i := j.Value.(int)
		if i != next {
			t.Fatalf("Next returned job %d, want %d", i, next)
		}
		if j.Callback == nil {
			t.Fatal("the caller's callback was not put back")
		}
		if uint32(j.Sum) != want[i] {
			t.Fatalf("job %d: crc %#x, want %#x", i, j.Sum, want[i])
		}
		if i%16 == 0 {
			zr, err := gzip.NewReader(bytes.NewReader(j.Dst.bytes()[:j.N]))
			if err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(out, j.Src.bytes()) {
				t.Fatalf("job %d: output does not decompress to its input (%v)", i, err)
			}
		}
		next++
	}
	for i := 0; i < n; i++ {
		if p.Len() == p.Cap() {
			collect()
		}
		pj := &jobs[i%depth] // the oldest job's, collected above
		sizes[i] = 64 + (i*7919)%4000
		if i%6 == 0 {
			sizes[i] = big - i
		}
		want[i] = crc32.ChecksumIEEE(pj.src.Bytes()[:sizes[i]])
		pj.job = Job{Op: ring.OpGzipCompress, Src: Span{Buf: pj.src, Len: sizes[i]}, Dst: All(pj.dst),
			Value: i, Callback: userCb}
		if v := inflight.Add(1); v > maxInflight.Load() {
			maxInflight.Store(v)
		}
		if err := p.Submit(ctx, &pj.job); err != nil {
			t.Fatal(err)
		}
		if p.Len() > depth {
			t.Fatalf("%d jobs in the pipeline, depth %d", p.Len(), depth)
		}
	}
	for p.Len() > 0 {
		collect()
	}
	if next != n {
		t.Fatalf("collected %d jobs of %d", next, n)
	}
	if m := maxInflight.Load(); m > depth {
		t.Fatalf("%d jobs in flight, depth %d", m, depth)
	}
	mu.Lock()
	defer mu.Unlock()
	reorders := 0
	for k := 1; k < len(completions); k++ {
		if completions[k] < completions[k-1] {
			reorders++
		}
	}
	t.Logf("%d jobs, %d completions out of order, at most %d in flight", n, reorders, maxInflight.Load())
	if reorders == 0 {
		t.Error("no completion out of order: the test does not exercise reordering")
	}
}

// TestPipelineTwoGoroutines: one goroutine submits (blocking when full), another
// collects with Results until Close.
func TestPipelineTwoGoroutines(t *testing.T) {
	d := openTest(t, "qat-gen4")
	q := newQueue(t, d, WithDepth(16), WithBlockWhenFull())
	const depth = 5
	n := 2000
	if testing.Short() {
		n = 500
	}
	free := make(chan *pipeJob, depth)
	for range depth {
		pj := &pipeJob{src: alloc(t, d, 256<<10), dst: alloc(t, d, 32)}
		pipeText(pj.src.Bytes(), 7)
		free <- pj
	}
	p := NewPipeline(q, depth)
	var inflight, maxInflight atomic.Int32
	cb := func(*Job) { inflight.Add(-1) }
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() {
		defer p.Close()
		for i := 0; i < n; i++ {
			pj := <-free
			size := 1 + (i*131)%4096
			if i%9 == 0 {
				size = pj.src.Len()
			}
			pj.job = Job{Op: ring.OpSHA256, Src: Span{Buf: pj.src, Len: size}, Dst: All(pj.dst), Value: pj, Callback: cb}
			if v := inflight.Add(1); v > maxInflight.Load() {
				maxInflight.Store(v)
			}
			if err := p.Submit(ctx, &pj.job); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	got := 0
	for j, err := range p.Results(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if l := p.Len(); l > depth {
			t.Fatalf("%d jobs in the pipeline, depth %d", l, depth)
		}
		if j.N != 32 {
			t.Fatalf("job %d: %d bytes", got, j.N)
		}
		free <- j.Value.(*pipeJob)
		got++
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("collected %d of %d", got, n)
	}
	if m := maxInflight.Load(); m > depth {
		t.Fatalf("%d in flight, depth %d", m, depth)
	}
	if err := p.Submit(ctx, &Job{Op: ring.OpNop}); !errors.Is(err, ErrPipelineClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
}

// TestPipelineErrorsInOrder: a failed job is returned in its place with its
// error, and the jobs around it are not affected.
func TestPipelineErrorsInOrder(t *testing.T) {
	d := openTest(t, "qat-gen4")
	q := newQueue(t, d, WithDepth(32), WithFallback(DeviceOnly))
	plain := make([]byte, 200<<10)
	pipeText(plain, 3)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	const depth = 6
	jobs := make([]pipeJob, depth)
	for i := range jobs {
		jobs[i].src = alloc(t, d, gz.Len())
		jobs[i].dst = alloc(t, d, len(plain))
	}
	p := NewPipeline(q, depth)
	ctx := context.Background()
	const n = 60
	next := 0
	collect := func() {
		j, err := p.Next(ctx)
		if j == nil {
			t.Fatal(err)
		}
		i := j.Value.(int)
		if i != next {
			t.Fatalf("job %d returned, want %d", i, next)
		}
		next++
		var je *JobError
		if i%3 == 1 {
			if !errors.Is(err, ErrBadData) || !errors.As(err, &je) || je.Op != ring.OpGzipDecompress || err != j.Err {
				t.Fatalf("job %d: corrupt input gave %v", i, err)
			}
			return
		}
		if err != nil || !bytes.Equal(j.Dst.bytes()[:j.N], plain) {
			t.Fatalf("job %d: %v", i, err)
		}
	}
	for i := 0; i < n; i++ {
		if p.Len() == p.Cap() {
			collect()
		}
		pj := &jobs[i%depth]
		copy(pj.src.Bytes(), gz.Bytes())
		if i%3 == 1 {
			pj.src.Bytes()[gz.Len()/2] ^= 0x55 // corrupt
		}
		pj.job = Job{Op: ring.OpGzipDecompress, Src: All(pj.src), Dst: All(pj.dst), Value: i}
		if err := p.Submit(ctx, &pj.job); err != nil {
			t.Fatal(err)
		}
	}
	for p.Len() > 0 {
		collect()
	}
}

// TestPipelineCancel: Submit on a full pipeline and Next on an incomplete job
// give up when ctx ends, leaving the pipeline as it was.
func TestPipelineCancel(t *testing.T) {
	d := openTest(t, "ideal")
	// A manual queue completes nothing until Reap: the jobs stay in flight.
	q := newQueue(t, d, WithDepth(16), WithReap(ReapManual))
	src, dst := alloc(t, d, 64), alloc(t, d, 32*3)
	jobs := make([]Job, 3)
	for i := range jobs {
		jobs[i] = Job{Op: ring.OpSHA256, Src: All(src), Dst: Span{Buf: dst, Off: 32 * i, Len: 32}, Value: i}
	}
	p := NewPipeline(q, 2)
	bg := context.Background()
	for i := range 2 {
		if err := p.Submit(bg, &jobs[i]); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := p.Submit(ctx, &jobs[2]); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit on a full pipeline: %v", err)
	}
	if time.Since(t0) < 15*time.Millisecond {
		t.Fatal("Submit did not wait")
	}
	cctx, ccancel := context.WithCancel(bg)
	ccancel()
	if j, err := p.Next(cctx); j != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled context: %v %v", j, err)
	}
	for j, err := range p.Results(cctx) {
		if j != nil || !errors.Is(err, context.Canceled) {
			t.Fatalf("Results with a cancelled context: %v %v", j, err)
		}
	}
	if p.Len() != 2 {
		t.Fatalf("Len %d after cancellations", p.Len())
	}
	reaped := 0
	for reaped < 2 {
		n, err := q.Reap(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		reaped += n
	}
	for i := range 2 {
		j, err := p.Next(bg)
		if err != nil || j.Value.(int) != i {
			t.Fatalf("Next: %v %v", j, err)
		}
	}
	if err := p.Submit(bg, &jobs[2]); err != nil {
		t.Fatal(err)
	}
	p.Close()
	for reaped < 3 {
		n, _ := q.Reap(time.Second)
		reaped += n
	}
	if j, err := p.Next(bg); err != nil || j != &jobs[2] {
		t.Fatalf("Next: %v %v", j, err)
	}
	if j, err := p.Next(bg); j != nil || err != io.EOF {
		t.Fatalf("Next after the last job: %v %v", j, err)
	}
}

// TestPipelineSubmitError: a job the queue refuses is not in the pipeline.
func TestPipelineSubmitError(t *testing.T) {
	// A manual clock holds the job in flight until the test moves it.
	d, clk := openStopped(t)
	q := newQueue(t, d, WithDepth(16))
	p := NewPipeline(q, 4)
	src, dst := alloc(t, d, 64), alloc(t, d, 32)
	j := &Job{Op: ring.OpSHA256, Src: All(src), Dst: All(dst)}
	if err := p.Submit(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if err := p.Submit(context.Background(), j); !errors.Is(err, ErrInFlight) {
		t.Fatalf("resubmitting a job in flight: %v", err)
	}
	// The device may not have fetched the job yet, so time moves until it ends.
	stop := runClock(clk)
	_, err := p.Next(context.Background())
	stop()
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	if err := p.Submit(context.Background(), j); !errors.Is(err, ErrClosed) {
		t.Fatalf("submitting to a closed queue: %v", err)
	}
	if p.Len() != 0 {
		t.Fatalf("Len %d", p.Len())
	}
}

// pipeRaceEnabled reports whether the test binary was built with -race.
func pipeRaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// TestPipelineAllocs: the steady path allocates nothing in the client.
func TestPipelineAllocs(t *testing.T) {
	d := openTest(t, "ideal")
	q := newQueue(t, d, WithDepth(64), WithFallback(DeviceOnly))
	const depth = 16
	p := NewPipeline(q, depth)
	jobs := make([]Job, depth)
	ctx := context.Background()
	run := func() {
		for i := range 4 * depth {
			j := &jobs[i%depth]
			if p.Len() == p.Cap() {
				var err error
				if j, err = p.Next(ctx); err != nil {
					t.Fatal(err)
				}
			}
			j.Op = ring.OpNop
			if err := p.Submit(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		for p.Len() > 0 {
			if _, err := p.Next(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	// AllocsPerRun counts every goroutine's allocations, the simulated
	// device's included; the client's path must add none.
	perJob := testing.AllocsPerRun(50, run) / (4 * depth)
	t.Logf("%.3f allocations per job, device included", perJob)
	if pipeRaceEnabled() {
		return // the race detector's instrumentation allocates
	}
	if perJob > 0.01 {
		t.Errorf("%.3f allocations per job", perJob)
	}
}
