package ring

import "sync/atomic"

// Counters are the statistics kept in a ring's header. Each is written by one
// side only, but the other side can overwrite shared memory at will, so they are
// advisory: good for observability, never for decisions.
type Counters struct {
	Refused         uint64 // entries the producer asked for while the ring was full
	ProducerCorrupt uint64 // impossible consumer indices the producer saw
	Wakeups         uint64 // wake-ups the producer issued
	ConsumerCorrupt uint64 // impossible producer indices the consumer saw
	Sleeps          uint64 // times the consumer went to sleep
}

func readCounters(mem []byte) Counters {
	return Counters{
		Refused:         atomic.LoadUint64(dword(mem, offRefused)),
		ProducerCorrupt: atomic.LoadUint64(dword(mem, offProdCorrupt)),
		Wakeups:         atomic.LoadUint64(dword(mem, offWakeups)),
		ConsumerCorrupt: atomic.LoadUint64(dword(mem, offConsCorrupt)),
		Sleeps:          atomic.LoadUint64(dword(mem, offSleeps)),
	}
}

// Counters reads the ring's header counters.
func (p *Producer) Counters() Counters { return readCounters(p.mem) }

// Counters reads the ring's header counters.
func (c *Consumer) Counters() Counters { return readCounters(c.mem) }
