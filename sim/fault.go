package sim

import (
	"time"

	"github.com/accelq/accelq/ring"
)

// devErrEngine is the DevErr code of an injected engine error.
const devErrEngine = 0x0001

// injectFault applies the device's error and reset injection to a job just
// scheduled (stalls were applied to the model before scheduling it). It
// reports whether the job is already settled (an engine error or a reset) and must
// not be computed.
func (d *Device) injectFault(j *job, now time.Duration) bool {
	if !d.faulty {
		return false
	}
	f := &d.faults
	if f.ErrorRate > 0 && d.rng.Float64() < f.ErrorRate {
		j.res.Status = ring.StatusDeviceError
		d.settle(j, now) // at its modelled deadline: the engine failed it after working
		return true
	}
	if f.ResetRate > 0 && d.rng.Float64() < f.ResetRate {
		d.reset()
		d.flush(j)
		d.settle(j, now)
		return true
	}
	return false
}

// injects reports whether f injects anything.
func (f *Faults) injects() bool { return f.ErrorRate > 0 || f.StallRate > 0 || f.ResetRate > 0 }
