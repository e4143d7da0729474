package ring

import "fmt"

// Status is the outcome of a job, in a CQE. The values follow the kinds of error
// DPDK cryptodev and verbs report; StatusDeviceError comes with a device-specific
// code in the CQE's DevErr.
type Status uint16

const (
	StatusOK           Status = 0  // success
	StatusAuthFailed   Status = 1  // AEAD tag or signature did not verify; nothing written
	StatusInvalid      Status = 2  // malformed entry or argument: unknown opcode, reserved bits, bad length or parameter
	StatusBadAddress   Status = 3  // a buffer reference does not translate: unknown region, out of bounds, read-only, overlapping
	StatusNotPermitted Status = 4  // refused by policy: operation not allowed, key not usable by this context or operation
	StatusNoSpace      Status = 5  // destination too small; for decompression, output limit reached
	StatusDeviceError  Status = 6  // the device failed the job; see DevErr
	StatusFlushed      Status = 7  // the queue was torn down or the device reset before the job ran
	StatusUnsupported  Status = 8  // this device does not implement the operation
	StatusBadData      Status = 9  // input data is corrupt: a damaged or truncated compressed stream
	StatusBusy         Status = 10 // not accepted now: in-flight quota reached; retry later
)

var statusNames = [...]string{
	"ok", "authentication failed", "invalid argument", "bad address", "not permitted",
	"no space", "device error", "flushed", "unsupported operation", "corrupt data", "busy",
}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint16(s))
}
