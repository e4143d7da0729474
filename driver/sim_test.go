package driver

import (
	"testing"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/sim"
)

func init() {
	testDevices = append(testDevices, testDevice{name: "sim-ideal", new: func(t testing.TB) device.Device {
		p, err := sim.LoadProfile("ideal")
		if err != nil {
			t.Fatal(err)
		}
		d, err := sim.New(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}})
}
