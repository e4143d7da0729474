package driver

import (
	"errors"
	"testing"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

func quotaPolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(`{"default": {"ops": ["*"], "max_contexts": 2, "max_queues": 1,
		"max_regions": 2, "max_registered_bytes": 12288, "max_keys": 1, "max_in_flight": 4, "weight": 2}}`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wantQuota checks that err is a quota error naming limit.
func wantQuota(t *testing.T, err error, limit string) {
	t.Helper()
	var qe *QuotaError
	if !errors.Is(err, ErrQuota) || !errors.As(err, &qe) || qe.Limit != limit {
		t.Fatalf("got %v, want a quota error on %s", err, limit)
	}
	t.Log(err)
}

func TestQuotaContexts(t *testing.T) {
	d := New(newFakeDevice(), quotaPolicy(t))
	a := openCtx(t, d, 1000)
	openCtx(t, d, 1000)
	_, err := d.Open(Cred{UID: 1000})
	wantQuota(t, err, "max_contexts")
	openCtx(t, d, 1001) // another uid has its own count
	a.Close()
	openCtx(t, d, 1000) // closing gives the slot back
}

func TestQuotaQueuesAndWeight(t *testing.T) {
	d := New(newFakeDevice(), quotaPolicy(t))
	c := openCtx(t, d, 1000)
	_, err := c.CreateQueue(QueueOptions{Depth: 8, Weight: 3})
	wantQuota(t, err, "weight")
	q, err := c.CreateQueue(QueueOptions{Depth: 8, Weight: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateQueue(QueueOptions{Depth: 8})
	wantQuota(t, err, "max_queues")
	if err := c.DestroyQueue(q.Handle()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateQueue(QueueOptions{Depth: 8}); err != nil {
		t.Fatalf("queue after destroying the previous one: %v", err)
	}
}

func TestQuotaMemory(t *testing.T) {
	d := New(newFakeDevice(), quotaPolicy(t))
	c := openCtx(t, d, 1000)
	big, _ := sealedMemfd(t, 16384)
	_, _, err := c.RegisterMemory(big, true)
	wantQuota(t, err, "max_registered_bytes")
	fd, _ := sealedMemfd(t, 8192)
	h := register(t, c, fd, true)
	fd4k, _ := sealedMemfd(t, 4096)
	_, _, err = c.RegisterMemory(fd, false) // 8192 more would make 16384
	wantQuota(t, err, "max_registered_bytes")
	register(t, c, fd4k, false)
	_, _, err = c.RegisterMemory(fd4k, false)
	wantQuota(t, err, "max_regions")
	if err := c.UnregisterMemory(h); err != nil {
		t.Fatal(err)
	}
	register(t, c, fd, true)
}

func TestQuotaKeys(t *testing.T) {
	d := New(newFakeDevice(), quotaPolicy(t))
	c := openCtx(t, d, 1000)
	h, err := c.ImportKey(device.KeyHMAC, []byte("k1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ImportKey(device.KeyHMAC, []byte("k2"))
	wantQuota(t, err, "max_keys")
	c.DestroyKey(h)
	if _, err := c.ImportKey(device.KeyHMAC, []byte("k2")); err != nil {
		t.Fatal(err)
	}
}

func TestQuotaZeroShutsOut(t *testing.T) {
	p, err := ParsePolicy([]byte(`{"default": {"ops": ["*"]}, "users": {"66": {"max_contexts": 0}}}`))
	if err != nil {
		t.Fatal(err)
	}
	d := New(newFakeDevice(), p)
	_, err = d.Open(Cred{UID: 66})
	wantQuota(t, err, "max_contexts")
}

func TestContextIsOneTenant(t *testing.T) {
	dev := newFakeDevice()
	p, err := ParsePolicy([]byte(`{"default": {"ops": ["*"], "max_queues": 2, "max_in_flight": 4, "weight": 2}}`))
	if err != nil {
		t.Fatal(err)
	}
	d := New(dev, p)
	c := openCtx(t, d, 1000)
	for range 2 {
		if _, err := c.CreateQueue(QueueOptions{Depth: 16, Weight: 2, CopyMode: true, Classes: 1 << 1}); err != nil {
			t.Fatal(err)
		}
	}
	// The limit is the context's, shared by its queues through one tenant;
	// each queue's own bound is its CQ.
	cfg := dev.queues[0].cfg
	if cfg.MaxInFlight != 0 || cfg.Weight != 2 || !cfg.CopyMode || cfg.Classes != 2 || cfg.Space != device.AddressSpace(c.space) {
		t.Fatalf("device got %+v", cfg)
	}
	if cfg.Tenant == nil || *cfg.Tenant != (device.Tenant{Weight: c.Rule().Weight, MaxInFlight: 4}) {
		t.Fatalf("device got tenant %+v", cfg.Tenant)
	}
	if dev.queues[1].cfg.Tenant != cfg.Tenant {
		t.Fatal("two queues of one context have different tenants")
	}
	other := openCtx(t, d, 1000)
	if _, err := other.CreateQueue(QueueOptions{Depth: 16}); err != nil {
		t.Fatal(err)
	}
	if dev.queues[2].cfg.Tenant == cfg.Tenant {
		t.Fatal("two contexts share a tenant")
	}
}

func TestQueueOptionsValidated(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1000)
	for _, o := range []QueueOptions{
		{Depth: 0}, {Depth: 3}, {Depth: -8}, {Depth: 8192}, {Depth: 8, Classes: 1 << 5}, {Depth: 8, Weight: -1},
	} {
		if _, err := c.CreateQueue(o); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateQueue(%+v): %v, want ErrInvalid", o, err)
		}
	}
	if len(c.queues) != 0 {
		t.Fatal("refused queues were kept")
	}
}

// TestQuotaFreeOnCompletion: once a client has seen a job's completion, the
// device holds nothing of it, so unregistering the job's buffer and destroying
// its key give their quota back at once. A device that released its pins after
// posting the CQE would fail this now and then.
func TestQuotaFreeOnCompletion(t *testing.T) {
	p, err := ParsePolicy([]byte(`{"default": {"ops": ["*"], "max_regions": 1, "max_registered_bytes": 4096, "max_keys": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	forEachDevice(t, func(t *testing.T, dev device.Device) {
		c := openCtx(t, New(dev, p), 1000)
		cl := newClient(t, dev, c, QueueOptions{Depth: 4})
		for i := range 200 {
			fd, _ := sealedMemfd(t, 4096)
			h, _, err := c.RegisterMemory(fd, true)
			if err != nil {
				t.Fatalf("job %d: register after the previous job completed: %v", i, err)
			}
			k, err := c.ImportKey(device.KeyHMAC, []byte("key"))
			if err != nil {
				t.Fatalf("job %d: import after the previous job completed: %v", i, err)
			}
			cqe := cl.run(ring.SQE{Opcode: ring.OpHMACSHA256, Key: k, Src: ring.BufRef{Region: h, Len: 64}, Dst: ring.BufRef{Region: h, Off: 64, Len: 32}})
			if cqe.Status != ring.StatusOK {
				t.Fatalf("job %d: %v", i, cqe.Status)
			}
			if err := c.UnregisterMemory(h); err != nil {
				t.Fatal(err)
			}
			if err := c.DestroyKey(k); err != nil {
				t.Fatal(err)
			}
		}
	})
}
