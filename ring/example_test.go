package ring_test

import (
	"fmt"
	"log"

	"github.com/accelq/accelq/ring"
)

// A submission ring in ordinary memory: the producer encodes SQEs and publishes
// them with one tail store; the consumer copies them out once and decodes the copy.
func Example() {
	g := ring.Geometry{Entries: 8, EntrySize: ring.SQESize}
	mem := ring.Alloc(g)
	if err := ring.Init(mem, g); err != nil {
		log.Fatal(err)
	}
	p, _ := ring.NewProducer(mem)
	c, _ := ring.NewConsumer(mem)

	n, _ := p.Reserve(2)
	for i := 0; i < n; i++ {
		s := ring.SQE{Opcode: ring.OpSHA256, UserData: uint64(100 + i)}
		s.Encode(p.Entry(i))
	}
	p.Commit(n)

	buf := make([]byte, 8*ring.SQESize)
	got, _ := c.Pop(buf)
	for i := 0; i < got; i++ {
		var s ring.SQE
		if err := s.Decode(buf[i*ring.SQESize:]); err != nil {
			log.Fatal(err)
		}
		fmt.Println(s.Opcode, s.UserData)
	}
	// Output:
	// sha256 100
	// sha256 101
}
