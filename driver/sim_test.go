package driver

import (
	"testing"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/sim"
)

// newIdealDevice starts a simulated device of the ideal profile, closed with
// the test.
func newIdealDevice(tb testing.TB) *sim.Device {
	tb.Helper()
	p, err := sim.LoadProfile("ideal")
	if err != nil {
		tb.Fatal(err)
	}
	d, err := sim.New(p)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func init() {
	testDevices = append(testDevices, testDevice{name: "sim-ideal", new: func(t testing.TB) device.Device {
		return newIdealDevice(t)
	}})
}
