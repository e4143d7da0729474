package userdrv

// Fault paths: the daemon killed with jobs in flight, and a device that fails
// jobs (and resets) under a queue that falls back to software or does not.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/accelq/accelq/ring"
	"github.com/accelq/accelq/sim"
)

// openSim opens an embedded device of the named profile with sim options.
func openSim(t *testing.T, profile string, opts ...sim.Option) *Device {
	t.Helper()
	p, err := sim.LoadProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(WithSimProfile(p, opts...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// faultDevice opens an embedded qat-gen4 device with fault injection.
func faultDevice(t *testing.T, f sim.Faults) *Device {
	t.Helper()
	return openSim(t, "qat-gen4", sim.WithFaults(f))
}

// TestFaultAcceldKilled kills acceld with hundreds of slow jobs in flight and a
// submitter still submitting: every job the queue accepted completes, with its
// digest or with ErrDeviceLost, nothing hangs and no goroutine is left behind;
// then a new acceld serves a new Open.
func TestFaultAcceldKilled(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dm := startDaemon(t, "--profile", "qat-gen4")
	d, err := Open(WithSocket(dm.Socket))
	if err != nil {
		t.Fatal(err)
	}
	q, err := d.NewQueue(WithDepth(512), WithFallback(DeviceOnly))
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20) // SHA-512 of 1 MiB: about 2.5 ms of host time in acceld
	for i := range data {
		data[i] = byte(i * 7)
	}
	want := sha512.Sum512(data)
	src := alloc(t, d, len(data))
	copy(src.Bytes(), data)

	var (
		mu       sync.Mutex
		jobs     []*Job
		accepted atomic.Int64
		done     atomic.Int64
		allDone  = make(chan struct{}, 1)
		stop     = make(chan struct{})
	)
	newJob := func() *Job {
		dst, err := d.Alloc(64) // needs no new slab: the first batch's buffers come back
		if err != nil {
			panic(err)
		}
		return &Job{Op: ring.OpSHA512, Src: All(src), Dst: All(dst), Callback: func(*Job) {
			done.Add(1)
			select {
			case allDone <- struct{}{}:
			default:
			}
		}}
	}
	batch := make([]*Job, 400)
	for i := range batch {
		batch[i] = newJob()
	}
	n, err := q.SubmitBatch(batch)
	if err != nil || n != len(batch) {
		t.Fatalf("submitted %d of %d: %v", n, len(batch), err)
	}
	jobs = append(jobs, batch...)
	accepted.Add(int64(n))

	// Mid-stream: a submitter keeps the ring topped up while acceld dies.
	var submitter sync.WaitGroup
	submitter.Add(1)
	go func() {
		defer submitter.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			j := newJob()
			switch err := q.Submit(j); {
			case err == nil:
				mu.Lock()
				jobs = append(jobs, j)
				mu.Unlock()
				accepted.Add(1)
			case errors.Is(err, ErrBusy):
				j.Dst.Buf.Free()
				time.Sleep(100 * time.Microsecond)
			case errors.Is(err, ErrDeviceLost), errors.Is(err, ErrClosed):
				j.Dst.Buf.Free()
				return
			default:
				j.Dst.Buf.Free()
				t.Errorf("submit: %v", err)
				return
			}
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); done.Load() < 3; {
		if time.Now().After(deadline) {
			t.Fatal("no job completed before the kill")
		}
		time.Sleep(time.Millisecond)
	}
	dm.Kill()
	time.Sleep(100 * time.Millisecond) // the submitter goes on after the kill
	close(stop)
	submitter.Wait()

	deadline := time.After(15 * time.Second)
	for done.Load() < accepted.Load() {
		select {
		case <-allDone:
		case <-deadline:
			t.Fatalf("hang: %d of %d accepted jobs completed after acceld was killed", done.Load(), accepted.Load())
		}
	}
	ok, lost := 0, 0
	for _, j := range jobs {
		switch {
		case j.Err == nil:
			if !bytes.Equal(j.Dst.Buf.Bytes(), want[:]) {
				t.Fatal("a job completed before the kill with a wrong digest")
			}
			ok++
		case errors.Is(j.Err, ErrDeviceLost):
			var je *JobError
			if !errors.As(j.Err, &je) || je.Op != ring.OpSHA512 {
				t.Fatalf("lost job's error %#v", j.Err)
			}
			lost++
		default:
			t.Fatalf("job ended with %v, want success or ErrDeviceLost", j.Err)
		}
	}
	t.Logf("%d jobs accepted: %d completed before the kill, %d lost with it", len(jobs), ok, lost)
	if lost < 100 {
		t.Fatalf("only %d jobs were in flight when acceld died", lost)
	}
	if j := newJob(); q.Submit(j) == nil {
		if err := j.Wait(context.Background()); !errors.Is(err, ErrDeviceLost) {
			t.Errorf("a job submitted after the daemon died: %v", err)
		}
	}
	closed := make(chan struct{})
	go func() {
		q.Close()
		d.Close() // the daemon is gone: errors, but no hang
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("closing a device whose daemon died hangs")
	}

	dm2 := startDaemon(t, "--profile", "qat-gen4")
	d2, err := Open(WithSocket(dm2.Socket))
	if err != nil {
		t.Fatalf("open after acceld restarted: %v", err)
	}
	q2, err := d2.NewQueue(WithFallback(DeviceOnly))
	if err != nil {
		t.Fatal(err)
	}
	got, err := q2.Digest(context.Background(), crypto.SHA512, data)
	if err != nil || !bytes.Equal(got, want[:]) {
		t.Fatalf("digest on the new daemon: %v", err)
	}
	if err := d2.Close(); err != nil {
		t.Fatal(err)
	}
	dm2.Stop(t)
}

// TestFaultSubmitAfterDeviceLost: once the reaper has found the daemon gone, a
// job submitted to the queue must not wait forever in a ring nobody serves: a
// device-only queue fails it with ErrDeviceLost, an auto queue runs it in
// software. A job submitted right at the moment the daemon dies must complete
// too (a submitter racing the reaper's final sweep).
func TestFaultSubmitAfterDeviceLost(t *testing.T) {
	dm := startDaemon(t, "--profile", "qat-gen4")
	d, err := Open(WithSocket(dm.Socket))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	only := newQueue(t, d, WithFallback(DeviceOnly), WithDepth(64))
	auto := newQueue(t, d, WithDepth(64))
	batchQ := newQueue(t, d, WithFallback(DeviceOnly), WithDepth(64), WithBlockWhenFull())
	data := []byte("after the daemon died")
	want := sha256.Sum256(data)
	for _, q := range []*Queue{only, auto, batchQ} {
		if _, err := q.Digest(ctx, crypto.SHA256, data); err != nil {
			t.Fatal(err)
		}
	}
	dm.Kill()
	for _, q := range []*Queue{only, auto, batchQ} {
		select {
		case <-q.reaped:
		case <-time.After(10 * time.Second):
			t.Fatal("the reaper did not notice that the daemon died")
		}
	}
	bounded := func(name string, f func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := f(ctx); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bounded("device-only digest", func(ctx context.Context) error {
		if _, err := only.Digest(ctx, crypto.SHA256, data); !errors.Is(err, ErrDeviceLost) {
			return fmt.Errorf("got %v, want ErrDeviceLost", err)
		}
		return nil
	})
	bounded("auto digest", func(ctx context.Context) error {
		got, err := auto.Digest(ctx, crypto.SHA256, data)
		if err != nil || !bytes.Equal(got, want[:]) {
			return fmt.Errorf("got %v, want the digest, computed in software", err)
		}
		return nil
	})
	bounded("device-only batch", func(ctx context.Context) error {
		src, dst := alloc(t, d, len(data)), alloc(t, d, 32)
		copy(src.Bytes(), data)
		j := &Job{Op: ring.OpSHA256, Src: All(src), Dst: All(dst)}
		if _, err := batchQ.SubmitBatch([]*Job{j}); err != nil && !errors.Is(err, ErrDeviceLost) {
			return err
		}
		if err := j.Wait(ctx); !errors.Is(err, ErrDeviceLost) {
			return fmt.Errorf("got %v, want ErrDeviceLost", err)
		}
		return nil
	})
}

// faultJobs submits n SHA-256 jobs over a few sources, in batches of 128 that
// fit the ring (so that no job falls back for want of room), each batch waited
// for before the next, and returns them. Each job's Value is the digest it must
// produce.
func faultJobs(t *testing.T, d *Device, q *Queue, n int) []*Job {
	t.Helper()
	const sources, window = 16, 128
	var srcs [sources]*Buffer
	var wants [sources][32]byte
	for i := range srcs {
		srcs[i] = alloc(t, d, 256+i*61)
		for k := range srcs[i].Bytes() {
			srcs[i].Bytes()[k] = byte(i + k*k)
		}
		wants[i] = sha256.Sum256(srcs[i].Bytes())
	}
	var wg sync.WaitGroup
	jobs := make([]*Job, n)
	for i := range jobs {
		jobs[i] = &Job{Op: ring.OpSHA256, Src: All(srcs[i%sources]), Dst: All(alloc(t, d, 32)),
			Value: wants[i%sources], Callback: func(*Job) { wg.Done() }}
	}
	for start := 0; start < n; start += window {
		batch := jobs[start:min(start+window, n)]
		wg.Add(len(batch))
		if got, err := q.SubmitBatch(batch); err != nil || got != len(batch) {
			t.Fatalf("submitted %d of %d: %v", got, len(batch), err)
		}
		waited := make(chan struct{})
		go func() { wg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(30 * time.Second):
			t.Fatalf("hang: jobs %d to %d did not all complete (%+v)", start, start+len(batch), q.Stats())
		}
	}
	return jobs
}

// TestFaultAutoFallback: a device failing a fifth of its jobs, under an auto
// queue: every result is right, and the failed jobs ran in software, flagged and
// counted.
func TestFaultAutoFallback(t *testing.T) {
	d := faultDevice(t, sim.Faults{Seed: 1, ErrorRate: 0.2})
	q := newQueue(t, d, WithDepth(256))
	const n = 4000
	jobs := faultJobs(t, d, q, n)
	flagged := 0
	for i, j := range jobs {
		want := j.Value.([32]byte)
		if j.Err != nil || j.N != 32 || !bytes.Equal(j.Dst.Buf.Bytes(), want[:]) {
			t.Fatalf("job %d: %v, %d bytes", i, j.Err, j.N)
		}
		if j.CQEFlags&ring.CQEFallback != 0 {
			flagged++
		}
	}
	s := q.Stats()
	if s.FallbackWhy[FallbackFaulted] < n/10 || s.FallbackWhy[FallbackFaulted] > n/3 {
		t.Fatalf("%d of %d jobs fell back because the device failed them, want about a fifth", s.FallbackWhy[FallbackFaulted], n)
	}
	if uint64(flagged) != s.Fallbacks || s.Fallbacks != s.FallbackWhy[FallbackFaulted] || s.Completed != n || s.Failed != 0 {
		t.Fatalf("%d jobs flagged as fallbacks; stats %+v", flagged, s)
	}
	// The synchronous path too: a device error is retried in software.
	for i := 0; i < 200; i++ {
		data := []byte{byte(i), byte(i >> 8)}
		got, err := q.Digest(context.Background(), crypto.SHA256, data)
		if want := sha256.Sum256(data); err != nil || !bytes.Equal(got, want[:]) {
			t.Fatalf("digest %d: %v", i, err)
		}
	}
	t.Logf("stats %+v", q.Stats())
}

// TestFaultDeviceOnly: the same device under a device-only queue: failed jobs
// are *JobErrors with the device's status and code, and nothing runs in software.
func TestFaultDeviceOnly(t *testing.T) {
	d := faultDevice(t, sim.Faults{Seed: 2, ErrorRate: 0.2})
	q := newQueue(t, d, WithDepth(256), WithFallback(DeviceOnly), WithBlockWhenFull())
	const n = 2000
	jobs := faultJobs(t, d, q, n)
	failed := 0
	for i, j := range jobs {
		if j.CQEFlags&ring.CQEFallback != 0 {
			t.Fatalf("job %d ran in software on a device-only queue", i)
		}
		if j.Err == nil {
			want := j.Value.([32]byte)
			if !bytes.Equal(j.Dst.Buf.Bytes(), want[:]) {
				t.Fatalf("job %d: wrong digest", i)
			}
			continue
		}
		failed++
		var je *JobError
		if !errors.As(j.Err, &je) || je.Status != ring.StatusDeviceError || je.DevErr == 0 || je.Fallback ||
			j.Status != ring.StatusDeviceError || !errors.Is(j.Err, ErrDevice) || j.N != 0 {
			t.Fatalf("job %d: error %#v, status %v", i, j.Err, j.Status)
		}
	}
	if failed < n/10 || failed > n/3 {
		t.Fatalf("%d of %d jobs failed, want about a fifth", failed, n)
	}
	if s := q.Stats(); s.Fallbacks != 0 || s.Failed != uint64(failed) {
		t.Fatalf("stats %+v, %d failed", s, failed)
	}
	sawErr := false
	for i := 0; i < 100; i++ {
		_, err := q.Digest(context.Background(), crypto.SHA256, []byte{byte(i)})
		var je *JobError
		switch {
		case err == nil:
		case errors.As(err, &je) && je.Status == ring.StatusDeviceError && je.DevErr != 0 && errors.Is(err, ErrDevice):
			sawErr = true
		default:
			t.Fatalf("digest %d: %v", i, err)
		}
	}
	if !sawErr {
		t.Fatal("no synchronous digest met a device error")
	}
}

// After a device reset the simulated device stops every queue until Rearm,
// and nothing in the driver, the control protocol or userdrv rearms one: jobs
// in flight complete StatusFlushed (an auto queue reruns them in software), but
// every job submitted afterwards stays in the ring forever.
func TestFaultResetThenSubmit(t *testing.T) {
	for _, fb := range []Fallback{FallbackAuto, DeviceOnly} {
		d := openTest(t, "qat-gen4")
		q := newQueue(t, d, WithFallback(fb))
		data := []byte("before and after a reset")
		want := sha256.Sum256(data)
		if _, err := q.Digest(context.Background(), crypto.SHA256, data); err != nil {
			t.Fatal(err)
		}
		if err := d.be.(*embedded).dev.Reset(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := q.Digest(ctx, crypto.SHA256, data)
		cancel()
		if err != nil || !bytes.Equal(got, want[:]) {
			t.Fatalf("fallback %d: digest after a device reset: %v", fb, err)
		}
	}
}

// The same under random resets: every job completes, right, under an auto queue.
func TestFaultAutoFallbackResets(t *testing.T) {
	d := faultDevice(t, sim.Faults{Seed: 1, ErrorRate: 0.2, ResetRate: 0.01})
	q := newQueue(t, d, WithDepth(256))
	jobs := faultJobs(t, d, q, 4000)
	for i, j := range jobs {
		want := j.Value.([32]byte)
		if j.Err != nil || !bytes.Equal(j.Dst.Buf.Bytes(), want[:]) {
			t.Fatalf("job %d: %v", i, j.Err)
		}
	}
	if s := q.Stats(); s.FallbackWhy[FallbackFaulted] == 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestFaultCloseWithQueuedJobs closes a queue whose submission ring still holds
// jobs the device has not fetched (its in-flight limit is the ring's depth):
// Close must return, and every job complete: on a device-only queue the ones
// the device did not run are flushed, on an auto queue they run in software.
func TestFaultCloseWithQueuedJobs(t *testing.T) {
	d := openTest(t, "qat-gen4")
	data := make([]byte, 1<<20)
	want := sha512.Sum512(data)
	for _, fb := range []Fallback{DeviceOnly, FallbackAuto} {
		q, err := d.NewQueue(WithDepth(16), WithFallback(fb), WithBlockWhenFull())
		if err != nil {
			t.Fatal(err)
		}
		src := alloc(t, d, len(data))
		jobs := make([]*Job, 32) // 16 in the device, 16 waiting in the ring
		for i := range jobs {
			jobs[i] = &Job{Op: ring.OpSHA512, Src: All(src), Dst: All(alloc(t, d, 64))}
		}
		var n int
		if fb == DeviceOnly {
			n, err = q.SubmitBatch(jobs)
		} else {
			for _, j := range jobs { // Submit: an auto queue's SubmitBatch falls back when the ring is full
				if err = q.Submit(j); err != nil {
					break
				}
				n++
			}
		}
		if err != nil || n != len(jobs) {
			t.Fatalf("submitted %d: %v", n, err)
		}
		closed := make(chan error, 1)
		go func() { closed <- q.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Close hangs with jobs left in the submission ring")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		flushed := 0
		for i, j := range jobs {
			switch err := j.Wait(ctx); {
			case err == nil:
				if !bytes.Equal(j.Dst.Buf.Bytes(), want[:]) {
					t.Fatalf("job %d: wrong digest", i)
				}
			case fb == DeviceOnly && errors.Is(err, ErrFlushed) && j.Status == ring.StatusFlushed:
				flushed++
			default:
				t.Fatalf("fallback %d, job %d: %v", fb, i, err)
			}
		}
		cancel()
		t.Logf("fallback %d: %d of %d jobs flushed; stats %+v", fb, flushed, len(jobs), q.Stats())
	}
}
