package userdrv_test

import (
	"context"
	"fmt"
	"log"

	"github.com/accelq/accelq/ring"
	"github.com/accelq/accelq/userdrv"
)

// A SHA-256 digest with registered buffers and no copy: fill the source, submit,
// wait, read the destination. Open uses acceld if $ACCELQ_SOCKET names one, and
// an embedded simulated QAT device otherwise.
func Example() {
	dev, err := userdrv.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer dev.Close()
	q, err := dev.NewQueue(userdrv.WithDepth(64))
	if err != nil {
		log.Fatal(err)
	}
	src, _ := dev.Alloc(5)
	dst, _ := dev.Alloc(32)
	copy(src.Bytes(), "hello")

	job := &userdrv.Job{Op: ring.OpSHA256, Src: userdrv.All(src), Dst: userdrv.All(dst)}
	if err := q.Submit(job); err != nil {
		log.Fatal(err)
	}
	if err := job.Wait(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%x\n", dst.Bytes()[:job.N])
	fmt.Println("ran in software:", job.CQEFlags&ring.CQEFallback != 0)
	// Output:
	// 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
	// ran in software: false
}

// Many jobs in flight with completions by callback: the reaper goroutine runs
// each callback as its CQE arrives.
func ExampleQueue_Submit() {
	dev, err := userdrv.Open(userdrv.WithEmbedded("ideal"))
	if err != nil {
		log.Fatal(err)
	}
	defer dev.Close()
	q, err := dev.NewQueue(userdrv.WithDepth(64), userdrv.WithBlockWhenFull())
	if err != nil {
		log.Fatal(err)
	}
	src, _ := dev.Alloc(1024)
	done := make(chan uint64, 100)
	jobs := make([]userdrv.Job, 100)
	for i := range jobs {
		jobs[i] = userdrv.Job{Op: ring.OpCRC32C, Src: userdrv.All(src),
			Callback: func(j *userdrv.Job) { done <- j.Sum }}
		if err := q.Submit(&jobs[i]); err != nil {
			log.Fatal(err)
		}
	}
	for range jobs {
		<-done
	}
	fmt.Println("completed:", q.Stats().Completed)
	// Output: completed: 100
}
