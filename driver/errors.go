package driver

import (
	"errors"
	"fmt"
)

var (
	// ErrQuota is reported (through a *QuotaError) by any request that would go
	// beyond a limit of the client's policy rule.
	ErrQuota = errors.New("driver: quota exceeded")
	// ErrClosed is returned by operations on a closed context or driver.
	ErrClosed = errors.New("driver: closed")
	// ErrUnsealed is returned when registering a memfd that lacks F_SEAL_SHRINK.
	ErrUnsealed = errors.New("driver: memory not sealed against shrinking")
	// ErrBadHandle is returned for a region, key or queue handle the context does
	// not hold.
	ErrBadHandle = errors.New("driver: no such handle")
	// ErrInvalid is returned for malformed requests: bad descriptors, sizes or
	// options.
	ErrInvalid = errors.New("driver: invalid argument")
	// ErrTimeout is returned by a Conn request the daemon did not answer within
	// the connection's call timeout; the Conn is closed.
	ErrTimeout = errors.New("driver: daemon did not answer in time")
)

// QuotaError reports which limit a request would exceed.
type QuotaError struct {
	Limit string // the limit's name in the policy file, such as "max_keys"
	Max   int64  // the limit
	Have  int64  // what the client holds now
	Want  int64  // what the request would add (for "weight": the weight asked for)
	UID   uint32 // the client
}

func (e *QuotaError) Error() string {
	switch e.Limit {
	case "weight":
		return fmt.Sprintf("driver: quota exceeded: weight is at most %d for uid %d, asked for %d", e.Max, e.UID, e.Want)
	case "max_contexts":
		return fmt.Sprintf("driver: quota exceeded: max_contexts is %d for uid %d, which has %d open", e.Max, e.UID, e.Have)
	}
	return fmt.Sprintf("driver: quota exceeded: %s is %d per context for uid %d; the context holds %d and asked for %d more",
		e.Limit, e.Max, e.UID, e.Have, e.Want)
}

// Is makes errors.Is(err, ErrQuota) true for every *QuotaError.
func (e *QuotaError) Is(target error) bool { return target == ErrQuota }
