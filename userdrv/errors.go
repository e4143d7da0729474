package userdrv

import (
	"errors"
	"fmt"

	"github.com/accelq/accelq/ring"
)

// Errors a job can end with, one per CQE status; match them with errors.Is on
// the *JobError a job reports.
var (
	ErrAuthFailed   = errors.New("authentication failed")
	ErrInvalid      = errors.New("invalid argument")
	ErrBadAddress   = errors.New("bad address")
	ErrNotPermitted = errors.New("not permitted")
	ErrNoSpace      = errors.New("destination too small")
	ErrDevice       = errors.New("device error")
	ErrFlushed      = errors.New("flushed")
	ErrUnsupported  = errors.New("operation not supported by the device")
	ErrBadData      = errors.New("corrupt input data")
)

// Errors of the library itself.
var (
	// ErrBusy: the submission queue is full (and the queue neither waits nor falls back).
	ErrBusy = errors.New("userdrv: submission queue full")
	// ErrClosed: the queue or device is closed.
	ErrClosed = errors.New("userdrv: closed")
	// ErrDeviceLost: the daemon went away with the job in flight.
	ErrDeviceLost = errors.New("userdrv: device lost")
	// ErrInFlight: the job was submitted again before it completed.
	ErrInFlight = errors.New("userdrv: job already in flight")
)

var statusErrors = [...]error{
	ring.StatusAuthFailed:   ErrAuthFailed,
	ring.StatusInvalid:      ErrInvalid,
	ring.StatusBadAddress:   ErrBadAddress,
	ring.StatusNotPermitted: ErrNotPermitted,
	ring.StatusNoSpace:      ErrNoSpace,
	ring.StatusDeviceError:  ErrDevice,
	ring.StatusFlushed:      ErrFlushed,
	ring.StatusUnsupported:  ErrUnsupported,
	ring.StatusBadData:      ErrBadData,
	ring.StatusBusy:         ErrBusy,
}

// JobError is a job that did not succeed: which operation, the status the
// device (or the software fallback) reported, and the device's own error code.
type JobError struct {
	Op       ring.Opcode // the operation
	Status   ring.Status // the completion status
	DevErr   uint32      // device error code beside StatusDeviceError
	Fallback bool        // the job ran in software
	Err      error       // a library error (ErrDeviceLost, ErrClosed) instead of a status
}

func (e *JobError) Error() string {
	where := "device"
	if e.Fallback {
		where = "software"
	}
	if e.Err != nil {
		return fmt.Sprintf("accelq %v: %v", e.Op, e.Err)
	}
	if e.Status == ring.StatusDeviceError {
		return fmt.Sprintf("accelq %v (%s): %v, code %#x", e.Op, where, e.Status, e.DevErr)
	}
	return fmt.Sprintf("accelq %v (%s): %v", e.Op, where, e.Status)
}

// Unwrap returns the sentinel for the status, or the library error.
func (e *JobError) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	if int(e.Status) < len(statusErrors) && statusErrors[e.Status] != nil {
		return statusErrors[e.Status]
	}
	return fmt.Errorf("status %d", uint16(e.Status))
}
